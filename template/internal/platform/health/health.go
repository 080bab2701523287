// Package health serves the three Kubernetes-style probes:
//
//   - /livez: 200 while the process can serve at all. It checks no dependency, so a failing
//     database never gets the pod restarted (a restart would not fix it).
//   - /readyz: 200 once started, while every readiness check passes and the service is not
//     draining; 503 otherwise. Load balancers stop sending traffic on 503.
//   - /startupz: 503 until MarkStarted, then 200.
//
// Components register their readiness checks; /readyz runs them concurrently, each bounded
// by the registry's check timeout. /readyz?verbose lists every check and whether it passed;
// the reasons of failed checks (addresses, host names) are for operators only, served by
// ReadinessDetailsHandler on the admin listener.
package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Check reports whether a dependency is usable. It must return once ctx is done.
type Check func(ctx context.Context) error

// DefaultCheckTimeout bounds each readiness check: a dependency slower than that to answer a
// health check is not ready. Give the readiness probe a timeoutSeconds above it (kubelet's
// default is 1s) so that a slow check is reported as failed, not as a probe timeout.
const DefaultCheckTimeout = 2 * time.Second

// Registry holds the readiness checks and the started and draining states. Its methods are
// safe for concurrent use.
type Registry struct {
	checkTimeout time.Duration

	mu     sync.Mutex
	checks []namedCheck

	started  atomic.Bool
	draining atomic.Bool
}

type namedCheck struct {
	name  string
	check Check
}

// Option configures a Registry.
type Option func(*Registry)

// WithCheckTimeout sets how long /readyz waits for each check; d <= 0 keeps the default.
func WithCheckTimeout(d time.Duration) Option {
	return func(r *Registry) {
		if d > 0 {
			r.checkTimeout = d
		}
	}
}

// NewRegistry returns a registry that is not started, not draining and has no checks.
func NewRegistry(opts ...Option) *Registry {
	r := &Registry{checkTimeout: DefaultCheckTimeout}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// AddReadinessCheck registers c under name. Registering the same name twice, or a nil check,
// is a wiring bug and panics, as http.ServeMux does for a duplicate pattern.
func (r *Registry) AddReadinessCheck(name string, c Check) {
	if c == nil {
		panic(fmt.Sprintf("health: readiness check %q is nil", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.ContainsFunc(r.checks, func(nc namedCheck) bool { return nc.name == name }) {
		panic(fmt.Sprintf("health: readiness check %q registered twice", name))
	}
	r.checks = append(r.checks, namedCheck{name: name, check: c})
}

// MarkStarted records that start-up work is done: /startupz turns 200, and so does /readyz
// if its checks pass.
func (r *Registry) MarkStarted() { r.started.Store(true) }

// StartDraining turns /readyz to 503 for good, so that traffic moves elsewhere before the
// listeners close. Other routes keep serving.
func (r *Registry) StartDraining() { r.draining.Store(true) }

// Router is the one method Register needs; httpserver.Router and http.ServeMux both have it.
type Router interface {
	Handle(pattern string, h http.Handler)
}

// Register adds GET /livez, /readyz and /startupz to router.
func (r *Registry) Register(router Router) {
	router.Handle("GET /livez", r.LivenessHandler())
	router.Handle("GET /readyz", r.ReadinessHandler())
	router.Handle("GET /startupz", r.StartupHandler())
}

// LivenessHandler answers 200 whenever the process can answer at all.
func (r *Registry) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
}

// StartupHandler answers 503 until MarkStarted, then 200.
func (r *Registry) StartupHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !r.started.Load() {
			writeText(w, http.StatusServiceUnavailable, "starting\n")
			return
		}
		writeText(w, http.StatusOK, "ok\n")
	})
}

// ReadinessHandler answers 200 when started, not draining and every check passes, else 503.
// With ?verbose it lists each check in the format Kubernetes' own components use, without
// the reason of a failure, since this handler is served on the public listener:
//
//	[+]started ok
//	[+]shutdown ok
//	[-]database failed
//	readyz check failed
func (r *Registry) ReadinessHandler() http.Handler {
	return r.readiness(false)
}

// ReadinessDetailsHandler answers as ReadinessHandler does and always lists every check,
// with the error text of each failed one:
//
//	[-]database failed: dial tcp 10.0.0.7:5432: connect: connection refused
//
// Error texts name internal addresses and hosts: serve it on the admin listener only.
func (r *Registry) ReadinessDetailsHandler() http.Handler {
	return r.readiness(true)
}

func (r *Registry) readiness(details bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		results := []result{
			{name: "started", err: errIf(!r.started.Load(), "start-up work not done")},
			{name: "shutdown", err: errIf(r.draining.Load(), "draining")},
		}
		results = append(results, r.runChecks(req.Context())...)

		ready := !slices.ContainsFunc(results, func(res result) bool { return res.err != nil })
		status, summary := http.StatusOK, "ok\n"
		if !ready {
			status, summary = http.StatusServiceUnavailable, "not ready\n"
		}
		if _, verbose := req.URL.Query()["verbose"]; !verbose && !details {
			writeText(w, status, summary)
			return
		}
		var b []byte
		for _, res := range results {
			switch {
			case res.err == nil:
				b = fmt.Appendf(b, "[+]%s ok\n", res.name)
			case details:
				b = fmt.Appendf(b, "[-]%s failed: %v\n", res.name, res.err)
			default:
				b = fmt.Appendf(b, "[-]%s failed\n", res.name)
			}
		}
		if ready {
			b = append(b, "readyz check passed\n"...)
		} else {
			b = append(b, "readyz check failed\n"...)
		}
		writeText(w, status, string(b))
	})
}

type result struct {
	name string
	err  error
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

// runChecks runs every check concurrently and returns their results in registration order.
// A check that ignores its context cannot hold the probe: it is reported as timed out when the
// timeout passes, and its goroutine is left to finish on its own.
func (r *Registry) runChecks(ctx context.Context) []result {
	r.mu.Lock()
	checks := slices.Clone(r.checks)
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, r.checkTimeout)
	defer cancel()

	results := make([]result, len(checks))
	type answer struct {
		index int
		err   error
	}
	answers := make(chan answer, len(checks)) // buffered: a late check never blocks on send
	for i, nc := range checks {
		results[i] = result{name: nc.name, err: fmt.Errorf("no answer within %s", r.checkTimeout)}
		go func() { answers <- answer{index: i, err: runCheck(ctx, nc.check)} }()
	}
	for range checks {
		select {
		case a := <-answers:
			results[a.index].err = a.err
		case <-ctx.Done():
			return results
		}
	}
	return results
}

// runCheck turns a panicking check into a failed one: it runs on its own goroutine, where a
// panic would otherwise end the process.
func runCheck(ctx context.Context, c Check) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panicked: %v", v)
		}
	}()
	return c(ctx)
}

func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// A cached probe answer is a wrong answer.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
