// Package pcapgen writes simulated HTTP/1.1 exchanges as a pcap of Ethernet/IPv4/TCP
// packets, as a tap in front of the servers would see them: three-way handshakes,
// requests and responses cut at the client's MSS, keep-alive connections carrying
// several calls, Content-Length and chunked bodies, delayed ACKs, FIN exchanges when a
// connection idles out or asks for Connection: close, and a small share of
// retransmitted and reordered segments and of connections already open when the
// capture starts.
//
// Packets are serialised with gopacket (checksums computed) and written with
// pcapgo.Writer in timestamp order. Only packets that a later exchange could still
// precede are held in memory, so captures of any length stream to disk.
package pcapgen
