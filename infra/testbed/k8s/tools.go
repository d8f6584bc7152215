//go:build tools

// The blank imports keep the components' dependencies in go.mod and go.sum so
// that `go build k8s.io/kubernetes/cmd/...` resolves offline from the module
// cache. Main packages cannot be imported, so their app packages stand in;
// kubectl's main has no app package, so the packages it imports stand in.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"

	// k8s.io/kubernetes/cmd/kubectl
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	_ "k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs"
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubectl/pkg/cmd/util"
)
