// Package testenv gives tests the project's real services, isolated per test,
// and the bundled King James verses (KJV, ReadKJV) as real text.
//
// Integration tests never mock Redis or PostgreSQL: they run against the
// services that scripts/services.sh provides and exports as TEST_REDIS_URL and
// TEST_DATABASE_URL. A test that finds them unset fails (it never skips) with
// the command that starts them.
//
//	func TestX(t *testing.T) {
//		redisURL := testenv.RedisURL(t)      // a Redis DB of its own, flushed
//		pool := testenv.PGPool(t)            // a schema of its own, dropped after
//	}
package testenv
