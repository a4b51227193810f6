// Command echo is the lab's sample workload: an HTTP server that answers every request with one line
// naming the pod and the node it runs on, so a client can see which backend served it:
//
//	pod=<POD_NAME> node=<NODE_NAME>
//
// POD_NAME and NODE_NAME come from the environment (the downward API in the lab's manifests).
// GET /healthz answers "ok" for probes. The port comes from -port, else $PORT, else 8080.
// Standard library only, built static. On SIGINT/SIGTERM it keeps serving for -drain (default 5s,
// $DRAIN_SECONDS) with /healthz failing, because kube-proxy on every node needs a moment to stop
// sending new connections to a terminating pod; then it shuts down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func main() {
	defaultPort := 8080
	if p := os.Getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			log.Fatalf("echo: bad PORT %q", p)
		}
		defaultPort = n
	}
	defaultDrain := 5 * time.Second
	if d := os.Getenv("DRAIN_SECONDS"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			log.Fatalf("echo: bad DRAIN_SECONDS %q", d)
		}
		defaultDrain = time.Duration(n) * time.Second
	}
	port := flag.Int("port", defaultPort, "TCP port to listen on (all addresses)")
	drain := flag.Duration("drain", defaultDrain, "how long to keep serving after SIGTERM")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		log.Fatalf("echo: bad -port %d", *port)
	}

	line := fmt.Sprintf("pod=%s node=%s\n", envOr("POD_NAME", "unknown"), envOr("NODE_NAME", "unknown"))
	mux := http.NewServeMux()
	var terminating atomic.Bool
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if terminating.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("terminating\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(line))
	})

	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("echo: %v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	log.Printf("echo: listening on %s, answering %q", ln.Addr(), line[:len(line)-1])

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Fatalf("echo: %v", err)
		}
	case <-ctx.Done():
		terminating.Store(true)
		log.Printf("echo: terminating, still serving for %s", *drain)
		time.Sleep(*drain)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		log.Printf("echo: shut down")
	}
}
