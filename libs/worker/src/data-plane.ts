/**
 * A worker's data plane: the servers its ring neighbours reach it on, and the transport the
 * job's allreduce runs over. The TCP data server carries the allreduce when the job's
 * cluster.transport is tcp (the default), the gRPC Peer service when it is grpc; both listen from
 * the start, since the worker learns the job's choice only when it joins.
 */
import type { Transport } from '@permafrost/collective';
import type { JobSpec, WorkerSettings } from '@permafrost/job';
import type { JoinResponse } from '@permafrost/proto';
import type { TlsFiles } from '@permafrost/security';
import { PermafrostError } from '@permafrost/telemetry';
import { type PeerServer, startPeerServer } from '@permafrost/transport-grpc';
import { type DataServer, sharedMemoryUnavailable, startDataServer } from '@permafrost/transport-tcp';

const hostOf = (address: string) => address.slice(0, address.lastIndexOf(':'));
const portOf = (address: string) => address.slice(address.lastIndexOf(':') + 1);

export class DataPlane {
  private constructor(
    private readonly peer: PeerServer,
    private readonly data: DataServer,
    private readonly settings: WorkerSettings,
    private readonly tls: boolean,
  ) {}

  /** `tls`: both servers and the connections to peers run mutual TLS under the job CA */
  static async start(settings: WorkerSettings, tls: TlsFiles | undefined): Promise<DataPlane> {
    const { handshakeTimeoutMs } = settings;
    const peer = await startPeerServer({ listen: settings.listen, tls, handshakeTimeoutMs });
    const dataListen = settings.dataListen ?? `${hostOf(settings.listen)}:0`;
    const data = await startDataServer({
      listen: dataListen,
      sharedMemoryBytes: settings.sharedMemoryBytes,
      tls,
      handshakeTimeoutMs,
    }).catch(async (e) => {
      await peer.close();
      throw e;
    });
    return new DataPlane(peer, data, settings, tls !== undefined);
  }

  /** the Peer service address peers dial */
  get peerAddress(): string {
    return this.settings.advertise ?? this.peer.address;
  }

  /** the TCP data address peers dial */
  get dataAddress(): string {
    const s = this.settings;
    return s.dataAdvertise ?? (s.advertise ? `${hostOf(s.advertise)}:${portOf(this.data.address)}` : this.data.address);
  }

  /** The transport the job asks for, over the ranks the coordinator announced. */
  transport(job: JobSpec, joined: JoinResponse): Transport {
    const { rank, worldSize, peers } = joined;
    const generation = joined.membership?.generation ?? 0n;
    if (job.cluster.transport === 'grpc') {
      return this.peer.transport(
        rank,
        worldSize,
        peers.map((p) => p.address),
        generation,
        // the certificate names its Peer server and its channels check each rank against
        peers.map((p) => p.identity),
      );
    }
    const missing = peers.filter((p) => !p.dataAddress);
    if (missing.length > 0) {
      const who = missing.map((p) => `rank ${p.rank} (worker ${p.workerId})`).join(', ');
      throw new PermafrostError(
        'failed-precondition',
        `cluster.transport is tcp but ${who} announced no data address; use cluster.transport: grpc`,
      );
    }
    return this.data.transport(
      rank,
      worldSize,
      peers.map((p) => p.dataAddress),
      peers.map((p) => p.workerId),
      generation,
      // the certificate names its data server and its dialing side check each rank against
      peers.map((p) => p.identity),
    );
  }

  /** For the log: which transport, and whether ranks on this host share memory. */
  describe(job: JobSpec, worldSize: number): Record<string, unknown> {
    if (job.cluster.transport !== 'tcp') return { transport: job.cluster.transport, worldSize, tls: this.tls };
    const bytes = this.settings.sharedMemoryBytes;
    const sharedMemory = bytes === 0 ? 'off' : (sharedMemoryUnavailable() ?? `${bytes} bytes per connection to a rank on this host`);
    return { transport: 'tcp', worldSize, tls: this.tls, sharedMemory };
  }

  async close(): Promise<void> {
    await Promise.all([this.peer.close(), this.data.close()]);
  }
}
