"""Peak server RSS while N connections pipeline 500 KB Arrow fetch answers and never read them
(issue 17), and whether a normal client is still answered.
Usage: python bench/pipeline_attack.py MURR_BIN NCONN [MURR_ENV=VALUE ...]"""
import json, os, socket, subprocess, sys, time, re, requests, tempfile
BIN = sys.argv[1]; NCONN = int(sys.argv[2]); extra = dict(a.split("=",1) for a in sys.argv[3:])
d = tempfile.mkdtemp()
env = dict(os.environ, MURR_STORAGE_PATH=d+"/data", MURR_SERVER_HTTP_PORT="0", MURR_SERVER_HTTP_HOST="127.0.0.1",
           MURR_SERVER_HTTP_THREADS="2", MURR_SERVER_GRPC_PORT="0", MURR_SERVER_GRPC_HOST="127.0.0.1", **extra)
log = open(d+"/log","wb")
p = subprocess.Popen([BIN], env=env, stdout=log, stderr=subprocess.STDOUT)
port=None
for _ in range(300):
    m = re.search(rb"Listening for HTTP requests on [^\s:]+:(\d+)", open(d+"/log","rb").read())
    if m: port=int(m.group(1)); break
    time.sleep(0.05)
url=f"http://127.0.0.1:{port}"
ncol=32; nrows=4000
cols={"id":{"dtype":"utf8","nullable":False}}
for i in range(ncol): cols[f"c{i}"]={"dtype":"float32","nullable":True}
assert requests.put(url+"/api/v1/table/t", json={"key":"id","columns":cols}).status_code in (200,201)
data={"id":[f"k{i}" for i in range(nrows)]}
for i in range(ncol): data[f"c{i}"]=[float(j) for j in range(nrows)]
assert requests.put(url+"/api/v1/table/t/write", json={"columns":data}).status_code==200
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])//1024
body=json.dumps({"keys":data["id"],"columns":[f"c{i}" for i in range(ncol)]}).encode()
req=(f"POST /api/v1/table/t/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/vnd.apache.arrow.stream\r\nContent-Length: {len(body)}\r\n\r\n").encode()+body
r=requests.post(url+"/api/v1/table/t/fetch", data=body, headers={"Content-Type":"application/json","Accept":"application/vnd.apache.arrow.stream"})
print("answer bytes", len(r.content), "request bytes", len(req))
base=rss(); print("base rss MB", base)
socks=[]
for _ in range(NCONN):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.connect(("127.0.0.1",port)); s.setblocking(False); socks.append(s)
t0=time.time(); peak=base; sent=[0]*NCONN
blob=req*200
while time.time()-t0<8:
    for i,s in enumerate(socks):
        try:
            n=s.send(blob[sent[i]%len(blob):]); sent[i]+=n
        except BlockingIOError: pass
        except OSError: pass
    peak=max(peak,rss()); time.sleep(0.01)
# a normal client still answered?
t=time.time(); ok=requests.get(url+"/health",timeout=10).text; lat=time.time()-t
print("conns",NCONN,"peak rss MB",peak,"delta",peak-base,"health",ok,"%.3fs"%lat, "sent MB", sum(sent)//2**20)
p.terminate(); p.wait()
