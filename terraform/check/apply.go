package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"sigs.k8s.io/yaml"
)

// Object is one Kubernetes manifest document.
type Object struct {
	YAML                              []byte
	APIVersion, Kind, Name, Namespace string
	Fields                            map[string]any
}

// SplitYAML splits a multi-document YAML stream into objects, skipping empty
// documents.
func SplitYAML(stream string) ([]Object, error) {
	var objs []Object
	for i, doc := range strings.Split("\n"+stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var fields map[string]any
		if err := yaml.Unmarshal([]byte(doc), &fields); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		o := Object{YAML: []byte(doc), Fields: fields}
		o.APIVersion, _ = fields["apiVersion"].(string)
		o.Kind, _ = fields["kind"].(string)
		meta, _ := fields["metadata"].(map[string]any)
		o.Name, _ = meta["name"].(string)
		o.Namespace, _ = meta["namespace"].(string)
		if o.APIVersion == "" || o.Kind == "" || o.Name == "" {
			return nil, fmt.Errorf("document %d: apiVersion, kind and metadata.name are required", i)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// Applier sends objects to a kube-apiserver with server-side apply.
type Applier struct {
	URL    string
	Client *http.Client
	// resources maps apiVersion/kind to the resource's path segment and
	// whether it is namespaced (from discovery).
	resources map[string]resource
}

type resource struct {
	name       string
	namespaced bool
}

// NewApplier reads the server's discovery documents.
func NewApplier(ctx context.Context, baseURL string, tlsConfig *tls.Config) (*Applier, error) {
	a := &Applier{URL: baseURL, Client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}},
		resources: map[string]resource{}}
	if err := a.discover(ctx, "/api/v1"); err != nil {
		return nil, err
	}
	var groups struct {
		Groups []struct {
			Versions []struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"versions"`
		} `json:"groups"`
	}
	if err := a.get(ctx, "/apis", &groups); err != nil {
		return nil, err
	}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			if err := a.discover(ctx, "/apis/"+v.GroupVersion); err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}

func (a *Applier) discover(ctx context.Context, path string) error {
	var list struct {
		GroupVersion string `json:"groupVersion"`
		Resources    []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if err := a.get(ctx, path, &list); err != nil {
		return err
	}
	for _, r := range list.Resources {
		if !strings.Contains(r.Name, "/") {
			a.resources[list.GroupVersion+"/"+r.Kind] = resource{name: r.Name, namespaced: r.Namespaced}
		}
	}
	return nil
}

func (a *Applier) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, into)
}

// Apply applies o with server-side apply, strict field validation (unknown
// or duplicate fields are errors), and only as a dry run when dryRun.
func (a *Applier) Apply(ctx context.Context, o Object, dryRun bool) error {
	r, ok := a.resources[o.APIVersion+"/"+o.Kind]
	if !ok {
		return fmt.Errorf("%s %s: the server has no such kind", o.APIVersion, o.Kind)
	}
	prefix := "/apis/" + o.APIVersion
	if !strings.Contains(o.APIVersion, "/") {
		prefix = "/api/" + o.APIVersion
	}
	path := prefix
	if r.namespaced {
		if o.Namespace == "" {
			return fmt.Errorf("%s %s: namespaced kind without metadata.namespace", o.Kind, o.Name)
		}
		path += "/namespaces/" + url.PathEscape(o.Namespace)
	}
	path += "/" + r.name + "/" + url.PathEscape(o.Name)
	q := url.Values{"fieldManager": {"k8s1m-check"}, "fieldValidation": {"Strict"}, "force": {"true"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, a.URL+path+"?"+q.Encode(), bytes.NewReader(o.YAML))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	resp, err := a.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", o.Kind, o.Namespace, o.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		var status struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &status)
		return fmt.Errorf("%s %s/%s: %s: %s", o.Kind, o.Namespace, o.Name, resp.Status, status.Message)
	}
	return nil
}
