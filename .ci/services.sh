# Sourced by .ci/run and bench/run.sh: makes sure PostgreSQL (127.0.0.1:5432) and RabbitMQ
# (127.0.0.1:5672) answer, starting them when they do not (commands from the machine notes,
# /work/.library/env/machines/rust-svc.md).

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  echo "port $1 did not open" >&2; return 1
}

# True when RabbitMQ answers an AMQP 0-9-1 protocol header with a frame (Connection.Start,
# frame type 1). An open port is not enough: a broker whose state on disk went bad (a full
# disk) accepted TCP connections and never answered them.
amqp_answers() {
  timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 \
    && head -c 1 <&3 | od -An -tx1' 2>/dev/null | grep -q 01
}

wait_for_amqp() {
  for _ in $(seq 1 60); do amqp_answers && return 0; sleep 1; done
  return 1
}

ensure_services() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL is not answering; starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432
  if ! amqp_answers; then
    if port_open 5672; then
      echo "RabbitMQ takes connections but does not answer AMQP; restarting it"
      rabbitmqctl stop >/dev/null 2>&1 || true
      for _ in $(seq 1 30); do port_open 5672 || break; sleep 1; done
    else
      echo "RabbitMQ is not answering; starting it"
    fi
    rabbitmq-server -detached
    if ! wait_for_amqp; then
      echo "RabbitMQ does not answer the AMQP handshake on 5672; its log is under /var/log/rabbitmq" >&2
      return 1
    fi
  fi
  echo "RabbitMQ answers AMQP on 5672"
}
