// Command ociimage writes the container image of one static binary without Docker: the
// binary as /<name> on an empty base with distroless/static's /etc/passwd and /etc/group,
// run as UID and GID 65532 (as the generated Dockerfile's distroless base does), saved
// as a tarball that `ctr images import` reads.
//
//	ociimage -binary bin/service -tag localhost/service:test -out image.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	binary := flag.String("binary", "", "the static binary to run")
	tag := flag.String("tag", "", "the image reference, e.g. localhost/service:test")
	out := flag.String("out", "", "the tarball to write")
	flag.Parse()
	if *binary == "" || *tag == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*binary, *tag, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func write(binary, tag, out string) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	content, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	entrypoint := "/" + filepath.Base(binary)
	var archive bytes.Buffer
	files := tar.NewWriter(&archive)
	// The users distroless/static knows, so that a lookup of UID 65532 finds a name.
	entries := []struct {
		name    string
		mode    int64
		content []byte
	}{
		{"etc/passwd", 0o444, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o444, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{entrypoint[1:], 0o555, content},
	}
	for _, entry := range entries {
		header := &tar.Header{
			Name:     entry.name,
			Mode:     entry.mode,
			Size:     int64(len(entry.content)),
			Typeflag: tar.TypeReg,
		}
		if err := files.WriteHeader(header); err != nil {
			return err
		}
		if _, err := files.Write(entry.content); err != nil {
			return err
		}
	}
	if err := files.Close(); err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(archive.Bytes())), nil
	})
	if err != nil {
		return err
	}
	image, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	config, err := image.ConfigFile()
	if err != nil {
		return err
	}
	config = config.DeepCopy()
	config.OS = "linux"
	config.Architecture = runtime.GOARCH
	config.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       "65532:65532",
		Env:        []string{"PATH=/"},
	}
	image, err = mutate.ConfigFile(image, config)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, image)
}
