package ratelimit

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestParseLimits(t *testing.T) {
	t.Parallel()
	good := []struct {
		name string
		in   string
		want map[string]Limit
	}{
		{"two entries", "embed=2000/1m,rerank=1000/1m", map[string]Limit{
			"embed": {2000, time.Minute}, "rerank": {1000, time.Minute}}},
		{"bare unit minute", "embed=2000/m", map[string]Limit{"embed": {2000, time.Minute}}},
		{"bare unit second and hour", "a=5/s,b=7/h", map[string]Limit{"a": {5, time.Second}, "b": {7, time.Hour}}},
		{"any go duration", "embed-jobs=50/1h30m,x.y_z=3/250ms", map[string]Limit{
			"embed-jobs": {50, 90 * time.Minute}, "x.y_z": {3, 250 * time.Millisecond}}},
		{"spaces and blank entries", " embed = 2000 / 1m , , rerank=10/1m ,", map[string]Limit{
			"embed": {2000, time.Minute}, "rerank": {10, time.Minute}}},
		{"default key", "default=100/1m", map[string]Limit{"default": {100, time.Minute}}},
		{"empty", "", map[string]Limit{}},
		{"only commas", " , ,", map[string]Limit{}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLimits(tc.in)
			if err != nil {
				t.Fatalf("ParseLimits(%q): %v", tc.in, err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("ParseLimits(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}

	bad := []struct {
		name, in, entry, why string
	}{
		{"no equals", "embed", "embed", "endpoint=count/period"},
		{"no period", "embed=2000", "embed=2000", "count/period"},
		{"empty period", "embed=2000/", "embed=2000/", "period is missing"},
		{"empty count", "embed=/1m", "embed=/1m", `count ""`},
		{"count not a number", "embed=abc/1m", "embed=abc/1m", `count "abc"`},
		{"zero count", "embed=0/1m", "embed=0/1m", "positive integer"},
		{"negative count", "embed=-5/1m", "embed=-5/1m", "positive integer"},
		{"fractional count", "embed=1.5/1m", "embed=1.5/1m", "positive integer"},
		{"zero period", "embed=10/0s", "embed=10/0s", "not positive"},
		{"negative period", "embed=10/-1m", "embed=10/-1m", "not positive"},
		{"bad period", "embed=10/fortnight", "embed=10/fortnight", `period "fortnight"`},
		{"period without unit", "embed=10/60", "embed=10/60", `period "60"`},
		{"empty name", "=10/1m", "=10/1m", "endpoint name is empty"},
		{"upper case name", "Embed=10/1m", "Embed=10/1m", `endpoint "Embed"`},
		{"colon in name", "a:b=10/1m", "a:b=10/1m", `endpoint "a:b"`},
		{"duplicate", "embed=1/1m,rerank=2/1m,embed=3/1m", "embed=3/1m", "given twice"},
		{"bad second entry", "embed=2000/1m,rerank=x/1m", "rerank=x/1m", `count "x"`},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseLimits(tc.in)
			if err == nil {
				t.Fatalf("ParseLimits(%q) = %v, want an error", tc.in, got)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "ratelimit: ") || !strings.Contains(msg, `"`+tc.entry+`"`) || !strings.Contains(msg, tc.why) {
				t.Fatalf("ParseLimits(%q) error = %q, want it to name entry %q and say %q", tc.in, msg, tc.entry, tc.why)
			}
		})
	}
}

func TestLimitString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		l    Limit
		want string
	}{
		{"minute", Limit{2000, time.Minute}, "2000/1m0s"},
		{"seconds", Limit{200, 2 * time.Second}, "200/2s"},
		{"mixed", Limit{50, 90 * time.Minute}, "50/1h30m0s"},
		{"sub-second", Limit{3, 250 * time.Millisecond}, "3/250ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.l.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			back, err := ParseLimits("x=" + tc.l.String())
			if err != nil || back["x"] != tc.l {
				t.Fatalf("ParseLimits(String()) = %v, %v; want %v", back, err, tc.l)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	want := map[string]Limit{
		"embed":      {2000, time.Minute},
		"rerank":     {1000, time.Minute},
		"classify":   {500, time.Minute},
		"embed-jobs": {50, time.Minute},
		"datasets":   {500, time.Minute},
		"default":    {500, time.Minute},
	}
	got := Defaults()
	if !maps.Equal(got, want) {
		t.Fatalf("Defaults() = %v, want %v", got, want)
	}
	got["embed"] = Limit{1, time.Second}
	if Defaults()["embed"] != want["embed"] {
		t.Fatal("Defaults() returned a shared map")
	}
}

func TestFor(t *testing.T) {
	t.Parallel()
	limits := map[string]Limit{"embed": {10, time.Second}, "default": {7, time.Minute}}
	cases := []struct {
		name     string
		limits   map[string]Limit
		endpoint string
		want     Limit
	}{
		{"own entry", limits, "embed", Limit{10, time.Second}},
		{"default entry", limits, "rerank", Limit{7, time.Minute}},
		{"no default entry", map[string]Limit{}, "rerank", Limit{500, time.Minute}},
		{"nil map", nil, "embed", Limit{500, time.Minute}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := For(tc.limits, tc.endpoint); got != tc.want {
				t.Fatalf("For(%q) = %v, want %v", tc.endpoint, got, tc.want)
			}
		})
	}
}

func TestKeyFingerprint(t *testing.T) {
	t.Parallel()
	const key = "sk-live-0123456789abcdef"
	fp := KeyFingerprint(key)
	if fp != KeyFingerprint(key) || len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("KeyFingerprint = %q, want 16 stable lower-case hex digits", fp)
	}
	if KeyFingerprint("test-key") == fp {
		t.Fatal("two keys share a fingerprint")
	}
	if strings.Contains(fp, "0123456789") {
		t.Fatalf("fingerprint %q reveals the key", fp)
	}
	if got, want := KeyFingerprint(""), "e3b0c44298fc1c14"; got != want {
		t.Fatalf("KeyFingerprint(\"\") = %q, want %q", got, want)
	}
}
