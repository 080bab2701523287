// Command baseline is the bare net/http server `gosvc bench` compares a generated service
// with: the same route pattern, the same JSON bytes, nothing else (no middleware, no log,
// no telemetry). It is the ceiling a service's throughput is measured against.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	route := flag.String("route", "GET /v1/items/{id}", "ServeMux pattern to serve")
	bodyFile := flag.String("body", "", "file with the JSON body to answer")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	mux := http.NewServeMux()
	mux.HandleFunc(*route, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	server := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(server.ListenAndServe())
}
