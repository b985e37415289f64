package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// The bulk calls below are plain HTTP requests on the clientsets' own
// http.Clients (same connections, TLS and authentication): they send bodies
// encoded once by the caller (EncodeProtobuf) and drain a successful reply
// without reading it into memory. client-go's typed clients would encode every
// object through the scheme, build each URL and request through several
// layers and decode every echoed object, which together were about half of the
// tool's CPU. A failed call returns the error client-go would:
// *apierrors.StatusError from the Status the apiserver sent (else a generic
// one for the HTTP status), or the transport's error, so apierrors.IsAlreadyExists,
// bulk.Retryable and friends work on them as on the typed clients' errors.

// maxErrorBody caps how much of a failed reply is read to build the error.
const maxErrorBody = 1 << 20

// acceptTypes is what the calls accept: the Status of a failure comes in
// protobuf, or in JSON from anything in front of the apiserver.
const acceptTypes = Protobuf + ",application/json"

// Create POSTs body, an object of gvr encoded by EncodeProtobuf, to its
// collection in namespace ("" for cluster-scoped resources).
func (c *Clients) Create(ctx context.Context, worker int, gvr schema.GroupVersionResource, namespace string, body []byte) error {
	return c.do(ctx, worker, http.MethodPost, gvr, c.collection(gvr, namespace), "", body)
}

// Delete deletes object name of gvr in namespace ("" for cluster-scoped
// resources); body, if not nil, is the DeleteOptions encoded by
// EncodeProtobuf.
func (c *Clients) Delete(ctx context.Context, worker int, gvr schema.GroupVersionResource, namespace, name string, body []byte) error {
	return c.do(ctx, worker, http.MethodDelete, gvr, c.collection(gvr, namespace)+"/"+name, name, body)
}

// collection is the URL of gvr's objects in namespace.
func (c *Clients) collection(gvr schema.GroupVersionResource, namespace string) string {
	var b strings.Builder
	b.WriteString(c.prefix)
	if gvr.Group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/" + gvr.Group + "/")
	}
	b.WriteString(gvr.Version)
	if namespace != "" {
		b.WriteString("/namespaces/" + namespace)
	}
	b.WriteString("/" + gvr.Resource)
	return b.String()
}

func (c *Clients) do(ctx context.Context, worker int, method string, gvr schema.GroupVersionResource, path, name string, body []byte) error {
	if c.lean != nil {
		return c.doLean(ctx, worker, method, path, gvr.GroupResource(), name, body)
	}
	url := c.origin + path
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	req.Header = http.Header{
		"Accept": {acceptTypes},
		// Set here, it spares client-go's user-agent round tripper a copy of
		// every request.
		"User-Agent": {userAgent},
	}
	if body != nil {
		req.Header["Content-Type"] = []string{Protobuf}
	}
	resp, err := c.http[worker%len(c.http)].Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= http.StatusOK && resp.StatusCode <= http.StatusPartialContent {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return responseError(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), reply, method, gvr.GroupResource(), name)
}

// responseError is the error for a failed reply, built as client-go builds
// it: the Status the apiserver sent if the reply is one, else a generic error
// for the HTTP status (with the text of a text reply, and Retry-After).
func responseError(code int, contentType, retryAfterHeader string, body []byte, method string, gr schema.GroupResource, name string) error {
	status := &metav1.Status{}
	if err := runtime.DecodeInto(scheme.Codecs.UniversalDeserializer(), body, status); err == nil &&
		status.Status != "" && status.Status != metav1.StatusSuccess {
		return apierrors.FromObject(status)
	}
	message := "unknown"
	if isText(contentType) {
		message = strings.TrimSpace(string(body[:min(len(body), 2048)]))
	}
	retryAfter, _ := strconv.Atoi(retryAfterHeader)
	return apierrors.NewGenericServerResponse(code, method, gr, name, message, retryAfter, true)
}

func isText(ct string) bool {
	if ct == "" {
		return true
	}
	media, _, err := mime.ParseMediaType(ct)
	return err == nil && strings.HasPrefix(media, "text/")
}
