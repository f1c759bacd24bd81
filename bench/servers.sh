# servers.sh - sourced by bench/run.sh and bench/vectors.sh: a free loopback port, and
# redis-server started the one way the benchmarks compare against (persistence off, 2 I/O
# threads). The caller owns `pids` (killed at exit) and `work` (a private directory).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Sets redis_port and redis_pid; returns once it answers PING.
start_redis() {
  redis_port=$(free_port)
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" \
    --io-threads 2 --io-threads-do-reads yes --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
  pids+=($!)
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
}
