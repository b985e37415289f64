package store

// The request and result types of the store's Go API. They mirror etcd's
// RangeRequest, PutRequest, DeleteRangeRequest and TxnRequest closely so that
// package server translates field by field, but they carry no protobuf.

// SortOrder and SortTarget follow etcdserverpb's numbering.
type SortOrder int32

const (
	SortNone SortOrder = iota
	SortAscend
	SortDescend
)

type SortTarget int32

const (
	SortByKey SortTarget = iota
	SortByVersion
	SortByCreate
	SortByMod
	SortByValue
)

// RangeRequest reads keys. End nil reads the single key Key; End equal to
// "\x00" reads every key >= Key (and Key "\x00" with it: every key).
type RangeRequest struct {
	Key, End   []byte
	Rev        int64 // 0: current revision
	Limit      int64 // 0: no limit
	CountOnly  bool
	KeysOnly   bool
	SortOrder  SortOrder
	SortTarget SortTarget
	// SkipCount stops the scan once Limit keys and one more are found: Count
	// is then a lower bound, More is still exact. RangeStream chunks use it so
	// a long range is not recounted for every chunk.
	SkipCount bool
	// Revision filters; 0 means no bound.
	MinModRev, MaxModRev, MinCreateRev, MaxCreateRev int64
}

// RangeResult is what a Range read. Count is the exact number of keys in the
// range at the read revision (after filters), not just len(KVs).
type RangeResult struct {
	KVs   []KeyValue
	More  bool
	Count int64
	Rev   int64 // store revision when the read happened
}

// PutRequest sets one key.
type PutRequest struct {
	Key, Value  []byte
	Lease       int64
	PrevKV      bool
	IgnoreValue bool // keep the current value (the key must exist)
	IgnoreLease bool // keep the current lease (the key must exist)
}

// PutResult carries the revision of the put and, if asked, the previous value.
type PutResult struct {
	Rev    int64
	PrevKV *KeyValue
}

// DeleteRequest deletes one key (End nil) or a range, as RangeRequest.
type DeleteRequest struct {
	Key, End []byte
	PrevKV   bool
}

// DeleteResult says how many keys were deleted and, if asked, what they were.
type DeleteResult struct {
	Rev     int64
	Deleted int64
	PrevKVs []KeyValue
}

// CompareTarget and CompareResult follow etcdserverpb.Compare's numbering.
type CompareTarget int32

const (
	CompareVersion CompareTarget = iota
	CompareCreate
	CompareMod
	CompareValue
	CompareLease
)

type CompareResult int32

const (
	CompareEqual CompareResult = iota
	CompareGreater
	CompareLess
	CompareNotEqual
)

// Compare is one guard of a Txn. With End set, every key in [Key, End) must
// satisfy it.
type Compare struct {
	Key, End []byte
	Target   CompareTarget
	Result   CompareResult
	Int      int64  // version, create, mod or lease to compare with
	Value    []byte // for CompareValue
}

// TxnOp is one operation of a Txn branch: exactly one field is set.
type TxnOp struct {
	Range  *RangeRequest
	Put    *PutRequest
	Delete *DeleteRequest
	Txn    *TxnRequest
}

// TxnRequest is etcd's mini-transaction: if every Compare holds, Success runs,
// else Failure; all writes share one revision.
type TxnRequest struct {
	Compare []Compare
	Success []TxnOp
	Failure []TxnOp
}

// TxnOpResult holds the result of the TxnOp at the same index.
type TxnOpResult struct {
	Range  *RangeResult
	Put    *PutResult
	Delete *DeleteResult
	Txn    *TxnResult
}

// TxnResult reports which branch ran and its results.
type TxnResult struct {
	Succeeded bool
	Results   []TxnOpResult
	Rev       int64
}
