// Builds kubectl from the same pinned module graph as the test kube-apiserver, so `kubectl kustomize`
// and `kubectl apply --dry-run=server -k` work on a fresh machine (Debian's kubernetes-client is 1.20).
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
