// A bare Connect handler: connectNodeAdapter on a cleartext HTTP/2 server,
// with a PlateService that returns constant responses and does no work.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { PlateService } from "../../gen/plates/v1/plate_service_pb.ts";
import { constantResponses } from "../messages.ts";
import { readChildSettings, serve } from "./child.ts";

const settings = readChildSettings();

serve(settings.workers, async () => {
  const unimplemented = () => {
    throw new ConnectError("not part of the benchmark", Code.Unimplemented);
  };
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(PlateService, {
        get: () => constantResponses.get,
        add: () => constantResponses.add,
        generate: () => constantResponses.generate,
        validate: unimplemented,
        list: unimplemented,
        find: unimplemented,
        delete: unimplemented,
        // eslint-disable-next-line require-yield
        generateStream: async function* () {
          unimplemented();
        },
      });
    },
  });
  const server = http2.createServer({}, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
});
