// Package image builds a container image for one static Go binary, without a
// Docker engine, and writes it as an OCI image-layout tar archive (what
// `skopeo copy oci-archive:...`, `crane push` and containerd import accept).
// The image is scratch-based: the binary, CA certificates for TLS clients, and a
// non-root user; base images cannot be pulled here and are not needed.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DefaultCACerts is where Debian's ca-certificates package keeps its bundle.
const DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"

// Spec describes one image.
type Spec struct {
	Binary   string            // path of the static binary to put in the image
	Name     string            // binary name inside the image and the repository name, e.g. "memetcd"
	Repo     string            // image repository, e.g. "ghcr.io/k8s1m/memetcd"
	Version  string            // tag, e.g. "v0.3.1"
	CACerts  string            // CA bundle to include; empty skips it
	Labels   map[string]string // OCI annotations/labels (source, revision, ...)
	Created  time.Time         // image creation time; zero means the Unix epoch (reproducible)
	Platform v1.Platform
}

// Ref is the image reference the archive is tagged with.
func (s Spec) Ref() string { return s.Repo + ":" + s.Version }

// Build assembles the image.
func Build(s Spec) (v1.Image, error) {
	if s.Created.IsZero() {
		s.Created = time.Unix(0, 0).UTC() // reproducible: same inputs, same digest
	}
	layer, err := binaryLayer(s)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = s.Platform.Architecture
	cfg.OS = s.Platform.OS
	cfg.Created = v1.Time{Time: s.Created}
	cfg.Config.Entrypoint = []string{"/usr/local/bin/" + s.Name}
	cfg.Config.User = "65532:65532"
	cfg.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = s.Labels
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return mutate.Annotations(img, s.Labels).(v1.Image), nil
}

// WriteOCIArchive builds the image and writes it to path as a tar of an OCI image
// layout whose index names the image by its reference and tag.
func WriteOCIArchive(path string, s Spec) (v1.Hash, error) {
	img, err := Build(s)
	if err != nil {
		return v1.Hash{}, err
	}
	dir, err := os.MkdirTemp("", "oci-layout-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("oci layout: %w", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": s.Version,
		"io.containerd.image.name":          s.Ref(),
	})); err != nil {
		return v1.Hash{}, fmt.Errorf("write image: %w", err)
	}
	if err := tarDir(dir, path); err != nil {
		return v1.Hash{}, fmt.Errorf("archive %s: %w", path, err)
	}
	return img.Digest()
}

func binaryLayer(s Spec) (v1.Layer, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := s.Created
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/", "usr/", "usr/local/", "usr/local/bin/", "tmp/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"usr/local/bin/" + s.Name, 0o755, bin},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	if s.CACerts != "" {
		ca, err := os.ReadFile(s.CACerts)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle (install Debian's ca-certificates): %w", err)
		}
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{"etc/ssl/certs/ca-certificates.crt", 0o644, ca})
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the files under dir into a tar at dst with stable names and times.
func tarDir(dir, dst string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.ModTime = time.Unix(0, 0)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
