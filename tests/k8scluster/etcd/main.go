// Command etcd is etcd's own server, built from its module for the template's tests:
// the storage of the kube-apiserver in tests/test_components_kubernetes.py.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
