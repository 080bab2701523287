// Command pause holds a pod's namespaces open, as registry.k8s.io/pause does: the
// sandbox image of the test node, which cannot pull that image. It waits for SIGTERM or
// SIGINT and exits 0.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
