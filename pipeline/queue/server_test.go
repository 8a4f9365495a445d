package queue

import (
	"io"
	"reflect"
	"testing"

	"github.com/cobatch/cobatch/internal/redisconn"
)

// TestRedisConnOpt: asynq connects through the client internal/redisconn
// builds for each form of URL.
func TestRedisConnOpt(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"redis://h:6379/2":                     "*redis.Client",
		"redis-sentinel://h1:26379,h2:26379/m": "*redis.Client", // a failover client
		"redis-cluster://h1:7000,h2:7001":      "*redis.ClusterClient",
	} {
		conn, err := redisconn.Parse(url)
		if err != nil {
			t.Fatal(err)
		}
		c := RedisConnOpt(conn).MakeRedisClient()
		if got := reflect.TypeOf(c).String(); got != want {
			t.Errorf("%s: asynq gets a %s, want a %s", url, got, want)
		}
		c.(io.Closer).Close()
	}
}
