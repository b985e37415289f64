// Package wal is memetcd's durable write-ahead log. It implements store.Journal:
// every Change the store applies is encoded as one checksummed record and
// appended to the file of the key's WAL prefix, in one of three modes per prefix:
//
//   - none: memory only, nothing is written;
//   - buffered: Append returns at once, a background flusher writes the batch
//     at most FlushInterval later (or, on an idle WAL with no fsync-mode
//     prefix, the reply's Wait writes it: flushOnReply) and a syncer fsyncs
//     it within SyncInterval more;
//   - fsync: the Waiter returns only after the record is fsynced; writes that
//     arrive while an fsync is in flight share the next one (group commit).
//
// On disk: one segment series per prefix, named after the hex-encoded prefix
// (segments.go), framed records (encoder.go, decoder.go), snapshots of the live
// state that let covered segments be deleted (snapshot.go). Open replays the
// newest snapshot and then every segment merged in record order (replay.go); a
// torn final record is truncated with a warning (repair.go) and anything else
// that does not check out stops the boot with the file and offset.
//
// The running WAL, by job: wal.go (Config, Open, Close), groupcommit.go
// (Append, the flusher and its fsync batches, Durable), files.go (a segment
// file from creation to removal), syncer.go (background fsync of buffered
// bytes), snapshotting.go (taking a snapshot and dropping what it covers).
//
// Every logged record carries a sequence number, dense across all files. That
// is what lets replay tell "a record was lost in a crash" (a gap: everything
// after it is dropped, so the result is always a prefix of history) from "this
// prefix had nothing to write".
package wal
