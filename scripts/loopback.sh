# Shell functions shared by scripts/demo.sh and scripts/conformance.sh, which
# run ltigate and the simulated platform side by side on 127.0.0.1. Source it
# from bash; it needs /dev/tcp.

# Prints a TCP port on 127.0.0.1 that nothing listens on, below the
# kernel's ephemeral range (ip_local_port_range), so that no outgoing
# connection of another program holds it. Another program can still take
# it before it is bound; start-up then fails with "Address already in use"
# in the program's log.
free_port() {
    local port low=32768 span
    if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
        read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    fi
    span=$(( low > 11024 ? low - 10024 : 1000 ))
    while :; do
        port=$(( ($(od -An -N2 -tu2 /dev/urandom) % span) + 10000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# Stops ltigate and the simulator started with their pids in $tool_pid and
# $sim_pid; installed as the EXIT trap by pick_loopback_ports.
stop_both() {
    [ -n "${tool_pid:-}" ] && kill "$tool_pid" 2>/dev/null || true
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}

# Sets tool_port, platform_port (two different free ports) and the base URLs
# tool and platform, and makes the script stop both programs when it exits.
pick_loopback_ports() {
    trap stop_both EXIT INT TERM
    tool_port=$(free_port)
    platform_port=$(free_port)
    while [ "$platform_port" = "$tool_port" ]; do platform_port=$(free_port); done
    tool="http://127.0.0.1:$tool_port"
    platform="http://127.0.0.1:$platform_port"
}
