// Command kube is the testbed's Kubernetes in one binary, as k3s does it:
// one build and one link instead of eight, and the packages that etcd and
// CoreDNS share with Kubernetes (client-go, grpc, protobuf, Prometheus)
// compiled once. It runs the component that it is called as (its symlinks in
// the cache's bin folder: kube-apiserver, kubelet, etcd, coredns, …), or the
// one named by its first argument (`kube kubectl version --client`).
//
// Each case does what that component's own main does: k8s.io/kubernetes
// v1.34.4 (cmd/<name>/<name>.go, whose blank imports are all below), etcd
// v3.6.4 (the etcd server that Kubernetes v1.34.4's go.mod names:
// etcdmain.Main) and CoreDNS v1.12.2 (coremain.Run, with only the plugins
// that the testbed's Corefile uses instead of core/plugin's every one).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"

	_ "time/tzdata" // kube-apiserver, kube-controller-manager: CronJob time zones

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl: auth plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	// coredns: the plugins that the testbed's Corefile uses
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

// corednsDirectives are the plugins above in the order in which they handle
// a query: the order of CoreDNS's plugin.cfg (core/dnsserver/zdirectives.go),
// where the order within a server block of the Corefile does not matter.
var corednsDirectives = []string{
	"reload", "bind", "ready", "health", "errors", "log", "loadbalance", "cache", "template", "kubernetes", "loop",
}

// corednsFlags are the flags that CoreDNS's packages register on Go's global
// flag set as they load (coremain, dnsserver). kube-proxy adopts that set into
// its own, where CoreDNS's -version would shadow kube-proxy's --version; every
// component but coredns runs without them.
var corednsFlags = map[string]bool{
	"conf": true, "dns.port": true, "p": true, "pidfile": true, "plugins": true, "quiet": true, "version": true,
}

// withoutGoFlags replaces Go's global flag set with one that lacks the named flags.
func withoutGoFlags(names map[string]bool) {
	fresh := flag.NewFlagSet(flag.CommandLine.Name(), flag.CommandLine.ErrorHandling())
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if !names[f.Name] {
			fresh.Var(f.Value, f.Name, f.Usage)
		}
	})
	flag.CommandLine = fresh
}

// The server components: each main is cli.Run of the component's command.
var components = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

// The components whose mains are not cli.Run of a command.
var others = map[string]func(args []string){
	// cmd/kubectl/kubectl.go
	"kubectl": func(args []string) {
		logs.GlogSetter(kubectl.GetLogVerbosity(args)) // nolint:errcheck
		command := kubectl.NewDefaultKubectlCommand()
		if err := cli.RunNoErrOutput(command); err != nil {
			kubectlutil.CheckErr(err)
		}
	},
	// etcd's server/main.go
	"etcd": func(args []string) { etcdmain.Main(args) },
	// CoreDNS's coredns.go, with the directives of the plugins compiled in
	"coredns": func([]string) {
		dnsserver.Directives = corednsDirectives
		coremain.Run()
	},
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args
	if _, known := components[name]; !known && others[name] == nil && len(args) > 1 {
		// `kube kubelet --version`: the component as the first argument.
		name, args = args[1], args[1:]
		os.Args = args
	}
	if name != "coredns" {
		withoutGoFlags(corednsFlags)
	}
	if run := others[name]; run != nil {
		run(args)
		return
	}
	newCommand, known := components[name]
	if !known {
		var names []string
		for n := range components {
			names = append(names, n)
		}
		for n := range others {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [ARGS...], or call it through a symlink named COMPONENT; components: %s\n",
			strings.Join(names, ", "))
		os.Exit(2)
	}
	os.Exit(cli.Run(newCommand()))
}
