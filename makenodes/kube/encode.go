package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Protobuf is the content type makenodes sends and asks for: encoding an object
// in protobuf costs both sides a fraction of JSON.
const Protobuf = "application/vnd.kubernetes.protobuf"

// protobufMagic starts every object the apiserver's protobuf serializer reads
// ("k8s" and encoding style 0: a runtime.Unknown follows).
var protobufMagic = []byte{'k', '8', 's', 0}

// EncodeProtobuf returns obj as the body of a protobuf request for gvk: the
// magic prefix and a runtime.Unknown holding the type and the object's bytes,
// which is what client-go's protobuf serializer writes, in one allocation and
// without going through the scheme. The result is the caller's: a request may
// still read it after the call that sent it returned, so it must not be reused.
func EncodeProtobuf(obj runtime.ProtobufMarshaller, gvk schema.GroupVersionKind) ([]byte, error) {
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}}
	size := uint64(obj.Size())
	// tag, length varint (at most 10 bytes), object
	buf := make([]byte, len(protobufMagic)+unk.Size()+1+10+int(size))
	n, err := unk.NestedMarshalTo(buf[len(protobufMagic):], obj, size)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", gvk.Kind, err)
	}
	copy(buf, protobufMagic)
	return buf[:len(protobufMagic)+n], nil
}
