// Command loadgen drives a generated service from a process of its own, for the
// template's adversarial tests, where wrk cannot say what a test needs: latencies per
// status, a fixed request rate, and a client that stops like a load balancer does.
//
//	loadgen load -url URL [-rate N | -concurrency N] [-duration D] [-requests N] [-ready URL]
//	loadgen downstream -addr HOST:PORT [-delay D] [-concurrency N] [-hang-after D]
//
// load sends GET (or -method with -body) requests, open-loop at -rate per second or
// closed-loop from -concurrency workers, for -duration or until -requests have been sent,
// and prints one JSON report: requests per status, errors by kind, latency percentiles per
// status. With -ready it polls that URL every 20ms and, once it answers anything but 200
// after having answered 200, stops sending new requests (as an endpoints controller takes a
// draining pod out of rotation), waits for those in flight and reports when readiness
// failed and when the listener refused connections.
//
// downstream serves the contract a generated service's downstream client expects
// (GET <collection>/<id> -> {"id": ..., "available": 7}) with a fixed service time and a
// fixed number of requests served at once (the rest wait their turn), so it has a known
// capacity; after -hang-after it stops answering and holds every request until its client
// gives up, as a downstream in an outage does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen load|downstream [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = load(os.Args[2:])
	case "downstream":
		err = downstream(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// report is what load prints.
type report struct {
	Sent       int64                  `json:"sent"`
	Completed  int64                  `json:"completed"`
	Seconds    float64                `json:"seconds"`
	Statuses   map[string]int64       `json:"statuses"`
	Errors     map[string]int64       `json:"errors"`
	Examples   map[string]string      `json:"error_examples"`
	LatencyMS  map[string]percentiles `json:"latency_ms"`
	RetryAfter map[string]int64       `json:"retry_after"`
	Ready      *readiness             `json:"ready,omitempty"`

	mu      sync.Mutex
	samples map[string][]float64 // latencies in ms per status
}

type percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

type readiness struct {
	// Seconds from the start of the load to the first failed readiness answer, and to the
	// first refused connection; -1 when it did not happen.
	FailedAfter  float64 `json:"failed_after_s"`
	RefusedAfter float64 `json:"refused_after_s"`
	FailedStatus int     `json:"failed_status"`
}

func (r *report) record(status int, retryAfter string, latency time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		kind := errorKind(err)
		r.Errors[kind]++
		if _, ok := r.Examples[kind]; !ok {
			r.Examples[kind] = err.Error()
		}
		return
	}
	r.Completed++
	key := strconv.Itoa(status)
	r.Statuses[key]++
	r.samples[key] = append(r.samples[key], float64(latency.Microseconds())/1000)
	if retryAfter != "" {
		r.RetryAfter[retryAfter]++
	}
}

func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	}
	return "other"
}

func (r *report) finish(elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	for key, samples := range r.samples {
		slices.Sort(samples)
		at := func(q float64) float64 { return samples[min(len(samples)-1, int(q*float64(len(samples))))] }
		r.LatencyMS[key] = percentiles{Count: len(samples), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: samples[len(samples)-1]}
	}
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	target := fs.String("url", "", "the URL to request")
	method := fs.String("method", http.MethodGet, "the request method")
	body := fs.String("body", "", "the request body (sent as application/json)")
	rate := fs.Int("rate", 0, "requests per second, open loop (0: closed loop)")
	concurrency := fs.Int("concurrency", 16, "closed loop: workers; open loop: cap on requests in flight")
	duration := fs.Duration("duration", 5*time.Second, "how long to send")
	total := fs.Int64("requests", 0, "stop after this many requests (0: no cap)")
	ready := fs.String("ready", "", "readiness URL: stop sending once it fails")
	timeout := fs.Duration("timeout", 15*time.Second, "client timeout of one request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("-url is required")
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: *concurrency,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
	rep := &report{
		Statuses: map[string]int64{}, Errors: map[string]int64{}, LatencyMS: map[string]percentiles{},
		RetryAfter: map[string]int64{}, samples: map[string][]float64{}, Examples: map[string]string{},
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	start := time.Now()
	if *ready != "" {
		rep.Ready = &readiness{FailedAfter: -1, RefusedAfter: -1}
		go watchReadiness(*ready, start, rep.Ready, cancel)
	}

	var sent atomic.Int64
	one := func() {
		var payload io.Reader = http.NoBody
		if *body != "" {
			payload = strings.NewReader(*body)
		}
		req, err := http.NewRequest(*method, *target, payload)
		if err != nil {
			panic(err)
		}
		if *body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			rep.record(0, "", 0, err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rep.record(resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(began), err)
	}
	more := func() bool {
		if ctx.Err() != nil {
			return false
		}
		return *total == 0 || sent.Add(1) <= *total
	}

	var wg sync.WaitGroup
	if *rate > 0 {
		// Open loop: requests leave on schedule whatever the answers take, up to a cap on
		// those in flight (past it a request is counted as not sent: the loader's limit).
		slots := make(chan struct{}, *concurrency)
		interval := time.Second / time.Duration(*rate)
		next := time.Now()
		for more() {
			time.Sleep(time.Until(next))
			next = next.Add(interval)
			select {
			case slots <- struct{}{}:
			default:
				rep.record(0, "", 0, errors.New("loader saturated: too many requests in flight"))
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				one()
			})
		}
	} else {
		for range *concurrency {
			wg.Go(func() {
				for more() {
					one()
				}
			})
		}
	}
	wg.Wait()
	rep.Sent = rep.Completed
	for _, n := range rep.Errors {
		rep.Sent += n
	}
	rep.finish(time.Since(start))
	if rep.Ready != nil {
		// The listener closes after the drain delay: keep watching a little while for it.
		deadline := time.Now().Add(15 * time.Second)
		for rep.Ready.RefusedAfter < 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// watchReadiness polls url on a connection of its own; stop is called at the first failed
// answer after a successful one. It goes on until a connection is refused.
func watchReadiness(url string, start time.Time, r *readiness, stop func()) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seenReady := false
	for {
		resp, err := client.Get(url)
		elapsed := time.Since(start).Seconds()
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) && seenReady {
				r.RefusedAfter = elapsed
				stop()
				return
			}
		} else {
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				seenReady = true
			case seenReady && r.FailedAfter < 0:
				r.FailedAfter, r.FailedStatus = elapsed, resp.StatusCode
				stop()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func downstream(args []string) error {
	fs := flag.NewFlagSet("downstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	delay := fs.Duration("delay", 20*time.Millisecond, "service time of one request")
	concurrency := fs.Int("concurrency", 4, "requests served at once; the rest wait")
	hangAfter := fs.Duration("hang-after", 0, "stop answering after this long (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	started := time.Now()
	workers := make(chan struct{}, *concurrency)
	var served, held atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/{collection}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if *hangAfter > 0 && time.Since(started) > *hangAfter {
			held.Add(1)
			<-r.Context().Done()
			return
		}
		select {
		case workers <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(*delay)
		<-workers
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"available":7}`+"\n", path.Base(r.URL.Path))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Printf("served %d held %d\n", served.Load(), held.Load())
	return nil
}
