//go:build tools

// The blank imports keep kube-router's dependencies in go.mod and go.sum so
// that `go build github.com/cloudnativelabs/kube-router/v2/cmd/kube-router`
// resolves from the module cache. A main package cannot be imported, so the
// packages that its main imports stand in.
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/options"
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/version"
	_ "github.com/spf13/pflag"
	_ "k8s.io/klog/v2"
)
