// Builds etcd from the same module graph as the apiserver, so both come from one pinned, consistent set.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
