// Command coredns is the cluster DNS of the local testbed, built from the
// github.com/coredns/coredns module through the Go module proxy. It is
// CoreDNS's own entry point (coremain.Run, as in coredns.go) with a smaller
// plugin set: only the plugins that the testbed's Corefile uses are compiled
// in, instead of every plugin of core/plugin/zplugin.go (clouds, etcd, dnstap,
// forward…).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/template"
)

// directives are the plugins above in the order in which they handle a query:
// the order of CoreDNS's plugin.cfg (core/dnsserver/zdirectives.go), where
// the order within a server block of the Corefile does not matter.
var directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"template",
	"kubernetes",
	"loop",
}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		panic(err)
	}
	coremain.Run()
}
