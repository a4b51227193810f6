// Parses PromQL with Prometheus' own parser (github.com/prometheus/prometheus/promql/parser): stdin is a JSON
// array of expressions, stdout a JSON array of {"metrics": [...]} or {"error": "..."} in the same order.
package main

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Metrics []string `json:"metrics,omitempty"`
	Error   string   `json:"error,omitempty"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		os.Stderr.WriteString("stdin must be a JSON array of PromQL expressions: " + err.Error() + "\n")
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]result, 0, len(exprs))
	for _, text := range exprs {
		expr, err := p.ParseExpr(text)
		if err != nil {
			out = append(out, result{Error: err.Error()})
			continue
		}
		seen := map[string]bool{}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				seen[vs.Name] = true
			}
			return nil
		})
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		out = append(out, result{Metrics: names})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
