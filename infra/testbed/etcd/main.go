// Command etcd is the etcd server for the local testbed, built from the
// go.etcd.io/etcd/server/v3 module through the Go module proxy (Debian's etcd
// 3.4 is too old for Kubernetes 1.34). It is the same entry point as etcd's
// own main package.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
