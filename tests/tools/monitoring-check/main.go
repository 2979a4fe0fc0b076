// Command monitoring-check validates the Prometheus Operator objects of a rendered chart
// (ServiceMonitor, PrometheusRule) against the operator's own API types, strictly: an
// unknown or misspelled field fails, as the operator's CRD schema would refuse it on a
// cluster that has it. Reads the rendered YAML on standard input.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

func main() {
	input, err := io.ReadAll(bufio.NewReader(os.Stdin))
	if err != nil {
		fail("reading standard input: %v", err)
	}
	checked := map[string]int{}
	for _, document := range bytes.Split(input, []byte("\n---")) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal(document, &head); err != nil {
			fail("parsing a document: %v", err)
		}
		var object any
		switch head.Kind {
		case "ServiceMonitor":
			object = &monitoringv1.ServiceMonitor{}
		case "PrometheusRule":
			object = &monitoringv1.PrometheusRule{}
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(document, object); err != nil {
			fail("%s: %v", head.Kind, err)
		}
		checked[head.Kind]++
	}
	if checked["ServiceMonitor"] == 0 || checked["PrometheusRule"] == 0 {
		fail("expected a ServiceMonitor and a PrometheusRule, found %v", checked)
	}
	kinds := []string{}
	for kind, count := range checked {
		kinds = append(kinds, fmt.Sprintf("%d %s", count, kind))
	}
	fmt.Printf("valid against the Prometheus Operator's types: %s\n", strings.Join(kinds, ", "))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "monitoring-check: "+format+"\n", args...)
	os.Exit(1)
}
