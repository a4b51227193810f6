// Builds kube-controller-manager of the pinned k8s.io/kubernetes release for the lab's control plane
// (Deployments, DaemonSets, EndpointSlices, service-account tokens, node IPAM).
package main

import (
	"os"
	_ "time/tzdata" // CronJob time zones without depending on the host's zoneinfo

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics on /metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // kubernetes_build_info
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
