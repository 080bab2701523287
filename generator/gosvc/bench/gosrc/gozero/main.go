// Command gozero is a go-zero rest server for `gosvc bench`: go-zero's default middleware
// chain (tracing, load shedding, breaker, metrics, timeout, max conns, max bytes, recover,
// gunzip) without its per-request log line, serving the same JSON bytes on the same route.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
	"github.com/zeromicro/go-zero/rest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	route := flag.String("route", "/v1/items/:id", "go-zero route path (GET)")
	bodyFile := flag.String("body", "", "file with the JSON body to answer")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	// Loaded from YAML so every field gets go-zero's own default, as in a goctl project.
	var c rest.RestConf
	yaml := fmt.Sprintf("Name: bench\nHost: %s\nPort: %s\nLog:\n  Mode: console\n  Level: error\nMiddlewares:\n  Log: false\n", host, port)
	if err := conf.LoadFromYamlBytes([]byte(yaml), &c); err != nil {
		log.Fatal(err)
	}
	logx.DisableStat()
	server := rest.MustNewServer(c)
	defer server.Stop()
	length := strconv.Itoa(len(body))
	server.AddRoute(rest.Route{
		Method: http.MethodGet,
		Path:   *route,
		Handler: func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", length)
			_, _ = w.Write(body)
		},
	})
	server.Start()
}
