// Command promql-check parses PromQL expressions with Prometheus's own parser
// (github.com/prometheus/prometheus/promql/parser, the one promtool and the
// Prometheus server use) and reports, for each, the parse error or the metric
// names its vector and matrix selectors read.
//
// Input on stdin: a JSON array of strings. Output on stdout: a JSON array of
// {"error": string|null, "metrics": [string]} in the same order. Exit status 0
// whenever the input was a JSON array of strings, whatever the expressions were.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	Error   *string  `json:"error"`
	Metrics []string `json:"metrics"`
}

func metricNames(expr parser.Expr) []string {
	seen := map[string]bool{}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			// {__name__="x"} selects by matcher rather than by the bare name.
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name != "" {
			seen[name] = true
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]result, 0, len(exprs))
	for _, e := range exprs {
		expr, err := p.ParseExpr(e)
		if err != nil {
			msg := err.Error()
			out = append(out, result{Error: &msg, Metrics: []string{}})
			continue
		}
		out = append(out, result{Metrics: metricNames(expr)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "promql-check: %v\n", err)
		os.Exit(2)
	}
}
