package redisconn

import (
	"reflect"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// opts are the settings a URL parses into.
type opts struct {
	Network, Addr, Username, Password string
	DB                                int
	TLS                               bool
	MasterName, SentinelPassword      string
	SentinelAddrs, Addrs              []string
}

// parsed reads the settings of c's go-redis options.
func parsed(c Conn) opts {
	switch c.Kind {
	case Sentinel:
		o := c.failover
		return opts{MasterName: o.MasterName, SentinelAddrs: o.SentinelAddrs, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB, TLS: o.TLSConfig != nil}
	case Cluster:
		o := c.cluster
		return opts{Addrs: o.Addrs, Username: o.Username, Password: o.Password, TLS: o.TLSConfig != nil}
	}
	o := c.single
	return opts{Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB, TLS: o.TLSConfig != nil}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		kind    Kind
		addr    string
		opts    opts
		client  string // the go-redis client's type
		wantErr string
	}{
		{name: "single", url: "redis://:pw@h:6380/3", kind: Single, addr: "h:6380",
			opts: opts{Network: "tcp", Addr: "h:6380", Password: "pw", DB: 3}, client: "*redis.Client"},
		{name: "single default port", url: "redis://h", kind: Single, addr: "h:6379",
			opts: opts{Network: "tcp", Addr: "h:6379"}, client: "*redis.Client"},
		{name: "unix socket", url: "unix:///run/redis.sock?db=2", kind: Single, addr: "/run/redis.sock",
			opts: opts{Network: "unix", Addr: "/run/redis.sock", DB: 2}, client: "*redis.Client"},
		{name: "sentinel", url: "redis-sentinel://:pw@h1:26379,h2:26380/mymaster/2?sentinel_password=spw", kind: Sentinel,
			addr: "mymaster@h1:26379,h2:26380",
			opts: opts{MasterName: "mymaster", SentinelAddrs: []string{"h1:26379", "h2:26380"},
				SentinelPassword: "spw", Password: "pw", DB: 2}, client: "*redis.Client"},
		{name: "sentinel db 0", url: "redis-sentinel://h1:26379/m", kind: Sentinel, addr: "m@h1:26379",
			opts: opts{MasterName: "m", SentinelAddrs: []string{"h1:26379"}}, client: "*redis.Client"},
		{name: "sentinel user", url: "redis-sentinel://app:pw@[::1]:26379/m", kind: Sentinel, addr: "m@[::1]:26379",
			opts: opts{MasterName: "m", SentinelAddrs: []string{"[::1]:26379"}, Username: "app", Password: "pw"}, client: "*redis.Client"},
		{name: "cluster", url: "redis-cluster://:pw@h1:7000,h2:7001,h3:7002", kind: Cluster, addr: "h1:7000,h2:7001,h3:7002",
			opts: opts{Addrs: []string{"h1:7000", "h2:7001", "h3:7002"}, Password: "pw"}, client: "*redis.ClusterClient"},
		{name: "cluster one seed", url: "redis-cluster://h1:7000/0", kind: Cluster, addr: "h1:7000",
			opts: opts{Addrs: []string{"h1:7000"}}, client: "*redis.ClusterClient"},
		{name: "no scheme", url: "h:6379", wantErr: "not a Redis URL"},
		{name: "unknown scheme", url: "http://:secret@h:1", wantErr: `unknown Redis URL scheme "http"`},
		{name: "sentinel without master", url: "redis-sentinel://h1:26379", wantErr: "want /MASTER"},
		{name: "sentinel bad db", url: "redis-sentinel://h1:26379/m/x", wantErr: `database "x"`},
		{name: "sentinel without port", url: "redis-sentinel://h1,h2:26379/m", wantErr: `sentinel address "h1": want HOST:PORT`},
		{name: "sentinel unknown parameter", url: "redis-sentinel://h1:26379/m?db=1", wantErr: `unknown parameter "db"`},
		{name: "cluster db", url: "redis-cluster://h1:7000/1", wantErr: "only database 0"},
		{name: "cluster empty address", url: "redis-cluster://h1:7000,,h2:7001", wantErr: `cluster address "": want HOST:PORT`},
		{name: "single bad db", url: "redis://:secret@h:1/x", wantErr: `invalid database number: "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.url, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %q holds the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.url, err)
			}
			if c.Kind != tt.kind || c.Addr != tt.addr {
				t.Errorf("kind, addr = %s, %q; want %s, %q", c.Kind, c.Addr, tt.kind, tt.addr)
			}
			if got := parsed(c); !reflect.DeepEqual(got, tt.opts) {
				t.Errorf("options = %#v\nwant %#v", got, tt.opts)
			}
			rdb := c.NewClient()
			defer rdb.Close()
			if got := reflect.TypeOf(rdb).String(); got != tt.client {
				t.Errorf("client is a %s, want %s", got, tt.client)
			}
			// The go-redis client carries the parsed settings.
			switch o := rdb.(type) {
			case *redis.ClusterClient:
				co := o.Options()
				want := tt.opts
				if !reflect.DeepEqual(co.Addrs, want.Addrs) || co.Password != want.Password {
					t.Errorf("cluster client: addrs %v password %q", co.Addrs, co.Password)
				}
			case *redis.Client:
				co := o.Options()
				if tt.kind == Sentinel {
					want := tt.opts
					if co.Password != want.Password || co.DB != want.DB || co.Username != want.Username {
						t.Errorf("failover client: user %q password %q db %d", co.Username, co.Password, co.DB)
					}
					return
				}
				want := tt.opts
				if co.Addr != want.Addr || co.Password != want.Password || co.DB != want.DB {
					t.Errorf("client: addr %q password %q db %d", co.Addr, co.Password, co.DB)
				}
			}
		})
	}
}
