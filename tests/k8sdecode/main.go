// Command k8sdecode strictly decodes a stream of Kubernetes manifests, such as
// the output of `kubectl kustomize`, into the typed structs of k8s.io/api.
//
// Every document must name a kind this program knows and must decode with no
// unknown or duplicated field, so a misspelt or misplaced key (one the API
// server would silently drop, or reject) fails here instead. It prints one
// line per object and exits 1 on the first problem.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "k8sdecode:", err)
		os.Exit(1)
	}
}

func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		autoscalingv2.AddToScheme,
		policyv1.AddToScheme,
		networkingv1.AddToScheme,
		// The Prometheus Operator's custom resources (the monitoring component's PodMonitor).
		monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

func run(in io.Reader, out io.Writer) error {
	scheme, err := newScheme()
	if err != nil {
		return fmt.Errorf("build scheme: %w", err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(in))
	count := 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read document %d: %w", count+1, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		count++
		name, err := decode(scheme, doc)
		if err != nil {
			return fmt.Errorf("document %d: %w", count, err)
		}
		fmt.Fprintln(out, "ok", name)
	}
	if count == 0 {
		return errors.New("no objects in input")
	}
	return nil
}

// decode reads the type header, asks the scheme for the typed struct of that
// kind and unmarshals the document into it with unknown and duplicate fields
// treated as errors.
func decode(scheme *runtime.Scheme, doc []byte) (string, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return "", fmt.Errorf("read apiVersion/kind: %w", err)
	}
	gv, err := schema.ParseGroupVersion(meta.APIVersion)
	if err != nil {
		return "", fmt.Errorf("apiVersion %q: %w", meta.APIVersion, err)
	}
	gvk := gv.WithKind(meta.Kind)
	obj, err := scheme.New(gvk)
	if err != nil {
		return "", fmt.Errorf("unknown kind %s: %w", gvk, err)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return "", fmt.Errorf("%s: %w", gvk.Kind, err)
	}
	accessor, ok := obj.(metav1.Object)
	if !ok {
		return "", fmt.Errorf("%s has no object metadata", gvk.Kind)
	}
	if accessor.GetName() == "" {
		return "", fmt.Errorf("%s has no metadata.name", gvk.Kind)
	}
	return gvk.Kind + "/" + accessor.GetName(), nil
}
