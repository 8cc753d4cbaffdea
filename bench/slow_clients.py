# The probe's slow-client check (issue 26, finding 2), against a running `streamrec serve`
# on loopback: N connections from 127.0.0.1 each send one header line every 2 s; meanwhile
# FRESH clients ask /v1/health. Prints how many were served within WINDOW seconds and how
# long each took, then how many slow connections the server had closed after 15 s.
#
#   python3 bench/slow_clients.py PORT N FRESH WINDOW     e.g. 18700 200 3 30
import socket, sys, threading, time, urllib.request
port, n, fresh, window = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = False
closed = [0]
def slow():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while not stop:
            time.sleep(2)
            s.sendall(b"X-Slow: 1\r\n")
    except OSError:
        closed[0] += 1
threads = [threading.Thread(target=slow, daemon=True) for _ in range(n)]
for t in threads: t.start()
time.sleep(3)
served, times = 0, []
t0 = time.time()
for k in range(fresh):
    t = time.time()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=max(0.1, window - (t - t0))).read()
        served += 1; times.append(round(time.time() - t, 3))
    except Exception as e:
        times.append(f"failed: {type(e).__name__}")
print(f"{n} slow connections: {served} of {fresh} fresh clients served within {window:.0f} s; times {times}; slow connections closed by the server so far: {closed[0]}")
time.sleep(12)
print(f"after 15 s: {closed[0]} of {n} slow connections closed by the server")
stop = True
