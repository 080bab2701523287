package telemetry

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// ConfigError is an OTEL_* variable whose value the SDK would refuse, ignore or misread.
// The service refuses it at start instead, so a typo is one clear line rather than
// telemetry that silently goes nowhere.
type ConfigError struct {
	Name   string // the variable, e.g. OTEL_TRACES_SAMPLER
	Value  string
	Reason string // what a valid value looks like
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid %s=%q: %s", e.Name, e.Value, e.Reason)
}

// envCheck names a variable and returns why a value of it is invalid, or "".
type envCheck struct {
	name  string
	check func(string) string
}

// otlpSignals are the per-signal infixes of the OTLP exporter variables:
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and so on.
var otlpSignals = []string{"", "TRACES_", "METRICS_", "LOGS_"}

// checkEnv checks the OTEL_* variables that the SDK and its exporters read for
// themselves, where a bad value would be dropped with at most a line on the error handler.
func checkEnv() error {
	checks := []envCheck{
		{"OTEL_SDK_DISABLED", isBool},
		{"OTEL_BSP_SCHEDULE_DELAY", isMillis},
		{"OTEL_BSP_EXPORT_TIMEOUT", isMillis},
		{"OTEL_BSP_MAX_QUEUE_SIZE", isPositive},
		{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", isPositive},
		{"OTEL_BLRP_SCHEDULE_DELAY", isMillis},
		{"OTEL_BLRP_EXPORT_TIMEOUT", isMillis},
		{"OTEL_BLRP_MAX_QUEUE_SIZE", isPositive},
		{"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", isPositive},
		{"OTEL_METRIC_EXPORT_INTERVAL", isMillis},
		{"OTEL_METRIC_EXPORT_TIMEOUT", isMillis},
		{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", isLimit},
		{"OTEL_ATTRIBUTE_COUNT_LIMIT", isLimit},
		{"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", isLimit},
		{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", isLimit},
		{"OTEL_SPAN_EVENT_COUNT_LIMIT", isLimit},
		{"OTEL_SPAN_LINK_COUNT_LIMIT", isLimit},
		{"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", isLimit},
		{"OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", isLimit},
	}
	for _, signal := range otlpSignals {
		prefix := "OTEL_EXPORTER_OTLP_" + signal
		checks = append(checks,
			envCheck{prefix + "PROTOCOL", isProtocol},
			envCheck{prefix + "ENDPOINT", isEndpoint},
			envCheck{prefix + "TIMEOUT", isMillis},
			envCheck{prefix + "COMPRESSION", isCompression},
			envCheck{prefix + "INSECURE", isBool},
			envCheck{prefix + "HEADERS", isHeaders},
		)
	}
	for _, c := range checks {
		if v := os.Getenv(c.name); v != "" {
			if reason := c.check(v); reason != "" {
				return &ConfigError{Name: c.name, Value: v, Reason: reason}
			}
		}
	}
	return nil
}

func isBool(v string) string {
	if _, err := strconv.ParseBool(strings.ToLower(v)); err != nil {
		return "must be true or false"
	}
	return ""
}

func isMillis(v string) string {
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return "must be a whole number of milliseconds"
	}
	return ""
}

func isPositive(v string) string {
	if n, err := strconv.Atoi(v); err != nil || n <= 0 {
		return "must be a whole number above 0"
	}
	return ""
}

func isLimit(v string) string {
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return "must be a whole number, 0 or more"
	}
	return ""
}

func isProtocol(v string) string {
	if v != "grpc" && v != "http/protobuf" {
		// http/json is in the specification, but the Go SDK has no exporter for it.
		return "must be grpc or http/protobuf"
	}
	return ""
}

func isEndpoint(v string) string {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an http:// or https:// URL with a host"
	}
	return ""
}

func isCompression(v string) string {
	if v != "gzip" && v != "none" {
		return "must be gzip or none"
	}
	return ""
}

// isHeaders checks the W3C Baggage-like list the exporters read: key=value pairs,
// comma-separated, values URL-encoded. The exporters skip a malformed pair silently.
func isHeaders(v string) string {
	for pair := range strings.SplitSeq(v, ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return "must be comma-separated key=value pairs"
		}
		if _, err := url.PathUnescape(strings.TrimSpace(value)); err != nil {
			return "values must be URL-encoded"
		}
	}
	return ""
}

// listEnv reads a comma-separated list variable such as OTEL_TRACES_EXPORTER: names
// trimmed, empty items dropped.
func listEnv(name string) []string {
	var names []string
	for item := range strings.SplitSeq(os.Getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			names = append(names, item)
		}
	}
	return names
}
