// conntrackd's dedicated links: transports, buffering, failover, link watching.
export { Channel, type ChannelOptions, DEFAULT_ERROR_QUEUE_LENGTH, openChannel } from "./channel.ts";
export { ErrorQueue } from "./error_queue.ts";
export {
  IFF_RUNNING,
  IFF_UP,
  interfaceFlags,
  interfaceIndex,
  interfaceMtu,
  interfaceName,
} from "./interface.ts";
export { type LinkFlags, type LinkState, LinkWatcher } from "./link_watch.ts";
export { type ChannelLog, MultiChannel, type MultiChannelOptions } from "./multichannel.ts";
export { pollFds, readyFds } from "./poll.ts";
export { ChannelOpenError, SocketCallError } from "./socket.ts";
export {
  type ChannelStatsSource,
  formatChannelStats,
  formatLinkStats,
  type LinkStatus,
  linkStatus,
  TrafficStats,
} from "./stats.ts";
export { STREAM_BUFFER, StreamDeframer, wholeMessages } from "./stream.ts";
export type { ReceiveVisitor, Transport } from "./transport.ts";
