// Command pause is the lab's pod sandbox process (containerd's sandbox_image): it holds the pod's
// namespaces open and does nothing else. As PID 1 of the sandbox it reaps every child that is
// re-parented to it, and it exits 0 on SIGINT or SIGTERM. Standard library only, built static.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const version = "purelb-lab-pause 0.1.0"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "-v", "--version", "version":
			fmt.Println(version)
			return
		default:
			fmt.Fprintf(os.Stderr, "usage: %s [-v]\n", os.Args[0])
			os.Exit(2)
		}
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got signal %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child without blocking: one SIGCHLD may stand for several exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
