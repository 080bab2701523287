package telemetry

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// newResource describes the process every signal (traces, metrics, logs) reports from:
//
//   - service.name and service.version from svc, and service.instance.id, a random UUID
//     per process, so two replicas' series and spans never merge;
//   - deployment.environment.name and the Kubernetes attributes (k8s.pod.name,
//     k8s.namespace.name, k8s.node.name), which the Deployment passes in
//     OTEL_RESOURCE_ATTRIBUTES;
//   - the host, the process (pid and executable; not its command line, which may hold
//     secrets, nor its owner, whose lookup fails for a UID the image has no passwd entry
//     for) and the Go runtime, from the SDK's detectors.
//
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults.
func newResource(ctx context.Context, svc Service) (*resource.Resource, error) {
	// The SDK drops a malformed OTEL_RESOURCE_ATTRIBUTES as a "partial resource", like a
	// host name it could not find: check it on its own to refuse it.
	if _, err := resource.New(ctx, resource.WithFromEnv()); err != nil {
		return nil, &ConfigError{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), Reason: err.Error()}
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithAttributes(
			semconv.ServiceName(svc.Name),
			semconv.ServiceVersion(svc.Version),
			semconv.ServiceInstanceID(newInstanceID()),
		),
		// Later options win: the environment overrides the defaults above.
		resource.WithFromEnv(),
	)
	// A detector that found less than it looked for (a host name it could not read) still
	// returns the rest.
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

// newInstanceID returns a random (version 4) UUID, as the semantic conventions recommend
// for service.instance.id.
func newInstanceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand.Read panics instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
