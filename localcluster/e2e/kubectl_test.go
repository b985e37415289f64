package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// kubectl runs the real kubectl (built from the pinned k8s.io/kubernetes)
// against a cluster left running by `up`, as a person would.
type kubectl struct {
	t               *testing.T
	bin, kubeconfig string
	namespace       string
}

// kubectlTimeout bounds one kubectl command; `kubectl wait` and `rollout
// status` get their own, shorter, --timeout.
const kubectlTimeout = 2 * time.Minute

// run runs kubectl with args (stdin, if not empty, on its standard input)
// and returns its standard output.
func (k kubectl) run(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--kubeconfig", k.kubeconfig, "--namespace", k.namespace}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// must is run that fails the test on error.
func (k kubectl) must(args ...string) string {
	k.t.Helper()
	out, err := k.run("", args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// apply applies a manifest given on standard input, as `kubectl apply -f -`.
func (k kubectl) apply(manifest string) {
	k.t.Helper()
	if _, err := k.run(manifest, "apply", "-f", "-"); err != nil {
		k.t.Fatal(err)
	}
}

// eventually polls kubectl args until ok accepts the output or timeout passes.
func (k kubectl) eventually(what string, timeout time.Duration, ok func(out string) bool, args ...string) string {
	k.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := k.run("", args...)
		if err == nil && ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: not after %s; last: %q (err %v)", what, timeout, out, err)
		}
		time.Sleep(time.Second)
	}
}

// podRow is one pod as kubectl lists it.
type podRow struct{ name, phase, node string }

// pods lists the pods matching selector.
func (k kubectl) pods(selector string) []podRow {
	k.t.Helper()
	out := k.must("get", "pods", "-l", selector, "-o",
		`jsonpath={range .items[*]}{.metadata.name}{" "}{.status.phase}{" "}{.spec.nodeName}{"\n"}{end}`)
	var rows []podRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			r := podRow{name: f[0], phase: f[1]}
			if len(f) > 2 {
				r.node = f[2]
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// scheduledEvents counts the Scheduled events of each pod in the namespace.
func (k kubectl) scheduledEvents() map[string]int {
	k.t.Helper()
	var list struct {
		Items []struct {
			Count          int `json:"count"`
			InvolvedObject struct {
				Kind, Name string
			} `json:"involvedObject"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(k.must("get", "events", "--field-selector", "reason=Scheduled", "-o", "json")), &list); err != nil {
		k.t.Fatalf("events: %v", err)
	}
	n := map[string]int{}
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Pod" {
			n[e.InvolvedObject.Name] += max(e.Count, 1)
		}
	}
	return n
}

// containers is the pod spec's container list every manifest here runs
// (kwok runs nothing), indented to sit under a "spec:" at indent-2 spaces.
func containers(indent int) string {
	pad := strings.Repeat(" ", indent)
	return "\n" + pad + "containers:\n" + pad + "- name: app\n" + pad + "  image: registry.k8s.io/pause:3.10"
}

// useWithKubectl does with the cluster what a person trying it would, in
// the default namespace, with manifests written the ordinary way (no
// schedulerName, no ServiceAccount), and checks each outcome.
func useWithKubectl(t *testing.T, bin, kubeconfig string, nodes int) {
	k := kubectl{t: t, bin: bin, kubeconfig: kubeconfig, namespace: "default"}

	t.Run("nodes Ready", func(t *testing.T) {
		k := k
		k.t = t
		k.must("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=60s")
		if n := len(strings.Fields(k.must("get", "nodes", "-o", "name"))); n != nodes {
			t.Errorf("%d nodes, want %d", n, nodes)
		}
	})

	t.Run("pods with and without schedulerName Running", func(t *testing.T) {
		k := k
		k.t = t
		k.apply(`apiVersion: v1
kind: Pod
metadata:
  name: named
  labels: {try: pods}
spec:
  schedulerName: dist-scheduler` + containers(2) + `
---
apiVersion: v1
kind: Pod
metadata:
  name: plain
  labels: {try: pods}
spec:` + containers(2))
		k.must("wait", "--for=jsonpath={.status.phase}=Running", "pod/named", "pod/plain", "--timeout=90s")
		if s := k.must("get", "pod", "plain", "-o", "jsonpath={.spec.schedulerName}"); s != "default-scheduler" {
			t.Errorf("plain pod's schedulerName %q, want default-scheduler", s)
		}
		for _, p := range k.pods("try=pods") {
			if p.node == "" {
				t.Errorf("pod %s Running without a node", p.name)
			}
		}
		k.must("delete", "pods", "-l", "try=pods", "--wait=true", "--timeout=60s")
	})

	t.Run("Deployment scaled up and down, every pod bound once, garbage-collected", func(t *testing.T) {
		k := k
		k.t = t
		k.apply(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:` + containers(6))
		k.must("rollout", "status", "deployment/web", "--timeout=90s")
		k.must("scale", "deployment/web", "--replicas=8")
		k.must("rollout", "status", "deployment/web", "--timeout=90s")
		up := k.pods("app=web")
		if len(up) != 8 {
			t.Fatalf("%d pods after scaling to 8: %v", len(up), up)
		}
		for _, p := range up {
			if p.phase != "Running" || p.node == "" {
				t.Errorf("pod %s: phase %s node %q after rollout", p.name, p.phase, p.node)
			}
		}
		// Each pod was scheduled once: one Scheduled event each (events are
		// written asynchronously, so wait for them).
		names := make([]string, len(up))
		for i, p := range up {
			names[i] = p.name
		}
		var events map[string]int
		deadline := time.Now().Add(30 * time.Second)
		for {
			events = k.scheduledEvents()
			if !slices.ContainsFunc(names, func(n string) bool { return events[n] == 0 }) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		for _, n := range names {
			if events[n] != 1 {
				t.Errorf("pod %s has %d Scheduled events, want 1", n, events[n])
			}
		}

		k.must("scale", "deployment/web", "--replicas=2")
		down := k.eventually("2 web pods after scaling down", 90*time.Second, func(string) bool {
			return len(k.pods("app=web")) == 2
		}, "get", "pods", "-l", "app=web", "-o", "name")
		// The pods kept are ones the scale-up bound, on the same nodes.
		for _, name := range strings.Fields(down) {
			name = strings.TrimPrefix(name, "pod/")
			i := slices.IndexFunc(up, func(p podRow) bool { return p.name == name })
			if i < 0 {
				t.Errorf("pod %s after scaling down was not among the 8", name)
			}
		}

		k.must("delete", "deployment", "web")
		k.eventually("the deleted Deployment's ReplicaSet and pods collected", 90*time.Second,
			func(out string) bool { return strings.TrimSpace(out) == "" },
			"get", "replicasets,pods", "-l", "app=web", "-o", "name")
	})

	t.Run("StatefulSet pods Running", func(t *testing.T) {
		k := k
		k.t = t
		k.apply(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 2
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:` + containers(6))
		k.must("rollout", "status", "statefulset/db", "--timeout=90s")
		got := k.pods("app=db")
		if len(got) != 2 || got[0].name != "db-0" || got[1].name != "db-1" || got[0].phase != "Running" || got[1].phase != "Running" {
			t.Errorf("StatefulSet pods %v, want db-0 and db-1 Running", got)
		}
		k.must("delete", "statefulset", "db")
	})

	t.Run("Job completes", func(t *testing.T) {
		k := k
		k.t = t
		k.apply(`apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never` + containers(6))
		k.must("wait", "--for=condition=Complete", "job/once", "--timeout=90s")
		if s := k.must("get", "job", "once", "-o", "jsonpath={.status.succeeded}"); s != "3" {
			t.Errorf("job succeeded %q, want 3", s)
		}
		for _, p := range k.pods("job-name=once") {
			if p.phase != "Succeeded" {
				t.Errorf("job pod %s: %s, want Succeeded", p.name, p.phase)
			}
		}
	})
}
