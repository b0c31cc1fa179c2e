// Decodes HEP with hep-js (github.com/sipcapture/hep-js), an independent
// decoder, for tests/hep_out.rs: listens on UDP and TCP on 127.0.0.1
// (ports chosen by the system), prints `{"udp":PORT,"tcp":PORT}` once
// listening, then one JSON line per HEP packet received:
// {"over":"udp"|"tcp","rcinfo":{...},"payload":"..."}, or
// {"over":...,"error":"..."} for a packet hep-js cannot decode.
// Stops when its standard input closes.
const dgram = require('dgram');
const net = require('net');
const hep = require('hep-js');

function print(over, packet) {
  const decoded = hep.decapsulate(packet);
  if (!decoded) {
    process.stdout.write(JSON.stringify({ over, error: 'not decoded', bytes: packet.length }) + '\n');
    return;
  }
  process.stdout.write(JSON.stringify({ over, bytes: packet.length, rcinfo: decoded.rcinfo, payload: decoded.payload }) + '\n');
}

const udp = dgram.createSocket('udp4');
udp.on('message', (msg) => print('udp', msg));

const tcp = net.createServer((socket) => {
  let pending = Buffer.alloc(0);
  socket.on('data', (data) => {
    pending = Buffer.concat([pending, data]);
    while (pending.length >= 6) {
      if (pending.toString('latin1', 0, 4) !== 'HEP3') {
        process.stdout.write(JSON.stringify({ over: 'tcp', error: 'stream out of step' }) + '\n');
        socket.destroy();
        return;
      }
      const length = pending.readUInt16BE(4);
      if (pending.length < length) break;
      print('tcp', pending.subarray(0, length));
      pending = pending.subarray(length);
    }
  });
});

udp.bind(0, '127.0.0.1', () => {
  tcp.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ udp: udp.address().port, tcp: tcp.address().port }) + '\n');
  });
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
