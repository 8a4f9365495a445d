package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// decodeAll decodes every document of every manifest here, strictly: an
// unknown or duplicated field is an error, as `kubectl apply
// --validate=strict` would make it.
func decodeAll(t *testing.T) []runtime.Object {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, batchv1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests (%v)", err)
	}
	var objs []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s, document %d: %v", f, i+1, err)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// flagValue returns the value of -name in argv.
func flagValue(argv []string, name string) (string, bool) {
	for i, a := range argv {
		if a == "-"+name && i+1 < len(argv) {
			return argv[i+1], true
		}
	}
	return "", false
}

func TestStrictDecodingCatchesTypos(t *testing.T) {
	t.Parallel()
	scheme := runtime.NewScheme()
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	b, err := os.ReadFile("worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typo := bytes.Replace(b, []byte("terminationGracePeriodSeconds"), []byte("terminationGracePeriodSecond"), 1)
	if _, _, err := dec.Decode(typo, nil, nil); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("a misspelt field decoded: %v", err)
	}
}

func TestWorkerDeployment(t *testing.T) {
	t.Parallel()
	deps := find[*appsv1.Deployment](decodeAll(t))
	if len(deps) != 1 {
		t.Fatalf("%d Deployments, want the worker's", len(deps))
	}
	d := deps[0]
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if !strings.HasPrefix(c.Image, "cobatch:") || c.Command != nil {
		t.Errorf("image %q command %q: want the cobatch image's entrypoint, the worker", c.Image, c.Command)
	}
	if sel := d.Spec.Selector.MatchLabels; len(sel) == 0 || !labelsMatch(sel, pod.Labels) {
		t.Errorf("selector %v does not select the pod's labels %v", sel, pod.Labels)
	}
	httpAddr, _ := flagValue(c.Args, "http")
	port := strings.TrimPrefix(httpAddr, ":")
	if len(c.Ports) != 1 || port == "" || strconv.Itoa(int(c.Ports[0].ContainerPort)) != port {
		t.Fatalf("-http %q and ports %v disagree", httpAddr, c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != c.Ports[0].Name {
			t.Errorf("%s probe %+v, want GET /healthz on the http port", name, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	checkMemLimit(t, c)
	st, ok := flagValue(c.Args, "shutdown-timeout")
	if !ok {
		st = "30s"
	}
	shutdown, err := time.ParseDuration(st)
	if err != nil {
		t.Fatal(err)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v, want more than -shutdown-timeout %s", g, shutdown)
	}
	a := pod.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" || a["prometheus.io/port"] != port {
		t.Errorf("scrape annotations %v, want scrape true, /metrics on port %s", a, port)
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("pod security context %+v, want non-root uid 65532 (the image's user)", sc)
	}
	if !slices.ContainsFunc(c.EnvFrom, func(e corev1.EnvFromSource) bool { return e.SecretRef != nil && e.SecretRef.Name == "cobatch" }) {
		t.Errorf("envFrom %+v, want the cobatch Secret", c.EnvFrom)
	}
}

func TestNightlyCronJob(t *testing.T) {
	t.Parallel()
	objs := decodeAll(t)
	cjs := find[*batchv1.CronJob](objs)
	if len(cjs) != 1 {
		t.Fatalf("%d CronJobs", len(cjs))
	}
	cj := cjs[0]
	if len(strings.Fields(cj.Spec.Schedule)) != 5 || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("schedule %q concurrency %q: want 5 cron fields, Forbid", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q", pod.RestartPolicy)
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Command, []string{"enqueue"}) || !slices.Contains(c.Args, "-wait") {
		t.Errorf("command %q args %q: want enqueue … -wait", c.Command, c.Args)
	}
	checkMemLimit(t, c)
	jobFile, _ := flagValue(c.Args, "f")
	// The job file comes from the ConfigMap mounted where -f looks.
	cms := find[*corev1.ConfigMap](objs)
	var found bool
	for _, m := range c.VolumeMounts {
		if filepath.Dir(jobFile) != m.MountPath {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range cms {
				if cm.Name == v.ConfigMap.Name && cm.Data[filepath.Base(jobFile)] != "" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("-f %s is not a key of a ConfigMap mounted at %s", jobFile, filepath.Dir(jobFile))
	}
	// The inputs are where the workers see them.
	w := find[*appsv1.Deployment](objs)[0].Spec.Template.Spec
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return slices.ContainsFunc(w.Containers[0].VolumeMounts, func(wm corev1.VolumeMount) bool {
			return wm.MountPath == m.MountPath && claim(w.Volumes, wm.Name) != "" && claim(w.Volumes, wm.Name) == claim(pod.Volumes, m.Name)
		})
	}) {
		t.Error("the CronJob does not mount the workers' input claim at the workers' path")
	}
}

func TestSecretExample(t *testing.T) {
	t.Parallel()
	secrets := find[*corev1.Secret](decodeAll(t))
	if len(secrets) != 1 || secrets[0].Name != "cobatch" {
		t.Fatalf("want one Secret named cobatch, got %d", len(secrets))
	}
	for _, k := range []string{"COHERE_API_KEY", "REDIS_URL", "DATABASE_URL"} {
		if secrets[0].StringData[k] == "" {
			t.Errorf("the Secret example lacks %s", k)
		}
	}
}

func claim(vols []corev1.Volume, name string) string {
	for _, v := range vols {
		if v.Name == name && v.PersistentVolumeClaim != nil {
			return v.PersistentVolumeClaim.ClaimName
		}
	}
	return ""
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkMemLimit: a container with a memory limit tells the Go runtime
// (GOMEMLIMIT), so that garbage is collected before the kernel kills it.
func checkMemLimit(t *testing.T, c corev1.Container) {
	t.Helper()
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: no memory limit", c.Name)
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
			e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" {
			return
		}
	}
	t.Errorf("%s: env %+v: want GOMEMLIMIT from limits.memory", c.Name, c.Env)
}
