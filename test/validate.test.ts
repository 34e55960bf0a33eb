import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PlateType, ValidateRequestSchema } from "../gen/plates/v1/plate_service_pb.ts";
import { toPlate } from "../src/service/plates.ts";
import { validate } from "../src/service/validate.ts";
import { connectClient, grpcJsClient, type ConnectProtocol } from "./support/clients.ts";
import { startTestServer, type TestServer } from "./support/server.ts";

describe("validate handler", () => {
  it("fills every field of a valid number", () => {
    const response = validate(create(ValidateRequestSchema, { number: " а123вс 777 rus" }));
    expect(response).toEqual({
      valid: true,
      plate: {
        number: "А123ВС777",
        displayNumber: "А123ВС 777",
        latinNumber: "A123BC777",
        type: PlateType.CAR,
        series: "АВС",
        serialNumber: "123",
        regionCode: "777",
        regionName: "Москва",
        regionNameEn: "Moscow",
      },
    });
  });

  it("follows the preferred types", () => {
    const request = create(ValidateRequestSchema, {
      number: "1234АВ77",
      preferredTypes: [PlateType.UNSPECIFIED, 99 as PlateType, PlateType.MOTORCYCLE],
    });
    expect(validate(request).plate?.type).toBe(PlateType.MOTORCYCLE);
  });

  it("returns the violation of an invalid character", () => {
    const response = validate(create(ValidateRequestSchema, { number: "А12Щ" }));
    expect(response).toEqual({
      valid: false,
      violation: {
        reason: "INVALID_CHARACTER",
        message: expect.stringContaining("position 3") as string,
        messageRu: expect.stringContaining("позиции 4") as string,
        position: 3,
        character: "Щ",
        mask: "",
      },
    });
  });

  it("returns the mask of an invalid format", () => {
    const response = validate(create(ValidateRequestSchema, { number: "А12ВС77" }));
    expect(response.violation).toMatchObject({ reason: "INVALID_FORMAT", mask: "X99XX99", position: undefined });
  });
});

describe("toPlate", () => {
  const record = { id: "00000000-0000-4000-8000-000000000000", createTime: new Date(0), number: "1234АВ45", regionCode: "45" };

  it("names the region of a civil plate", () => {
    expect(toPlate({ ...record, type: "TRACTOR" }).regionName).toBe("Курганская область");
  });

  it("names no region for a formation code", () => {
    const plate = toPlate({ ...record, type: "MILITARY" });
    expect(plate.type).toBe(PlateType.MILITARY);
    expect(plate.regionName).toBe("");
  });
});

const connectProtocols: ConnectProtocol[] = ["connect", "grpc-web", "grpc"];

describe("Validate over the wire", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer("postgres");
  });

  afterAll(async () => {
    await server?.close();
  });

  describe.each(connectProtocols)("over %s", (protocol) => {
    it("reads a diplomatic number", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const response = await client.validate({ number: "004 cd 1 77" });
      expect(response.valid).toBe(true);
      expect(response.plate).toMatchObject({
        number: "004СD177",
        displayNumber: "004СD1 77",
        latinNumber: "004CD177",
        type: PlateType.DIPLOMATIC,
        series: "СD",
        serialNumber: "1",
        regionCode: "77",
        regionName: "Москва",
        regionNameEn: "Moscow",
      });
      expect(response.violation).toBeUndefined();
    });

    it("reports an unknown region as a normal response", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const response = await client.validate({ number: "А123ВС100" });
      expect(response.valid).toBe(false);
      expect(response.plate).toBeUndefined();
      expect(response.violation?.reason).toBe("UNKNOWN_REGION");
      expect(response.violation?.messageRu).toContain("«100»");
    });

    it("follows the preferred types", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      const response = await client.validate({ number: "АВ123177", preferredTypes: [PlateType.TRAILER] });
      expect(response.plate?.type).toBe(PlateType.TRAILER);
      expect(response.plate?.regionCode).toBe("77");
    });

    it("stores nothing", async () => {
      const client = connectClient(protocol, server.baseUrl, server.token);
      await client.validate({ number: "К 007 ОО 99" });
      const listed = await client.list({ pageSize: 1000 });
      expect(listed.plates.map((plate) => plate.number)).not.toContain("К007ОО99");
    });
  });

  describe("over @grpc/grpc-js", () => {
    // The shared client's method list predates Validate, but grpc-js finds the method by name.
    type ValidateCall = <T>(method: string, request: object) => Promise<T>;

    interface GrpcValidateResponse {
      valid: boolean;
      plate: { number: string; type: number; regionCode: string; regionNameEn: string } | null;
      violation: { reason: string; position?: number; character: string } | null;
    }

    it("reads a number and reports a violation", async () => {
      const client = grpcJsClient(`127.0.0.1:${server.port}`, server.token);
      try {
        const call = client.call as ValidateCall;
        const valid = await call<GrpcValidateResponse>("Validate", { number: "ММ 22 АА 777 RUS" });
        expect(valid.valid).toBe(true);
        expect(valid.plate).toMatchObject({ number: "ММ22АА777", type: PlateType.MOPED, regionCode: "777", regionNameEn: "Moscow" });

        const invalid = await call<GrpcValidateResponse>("Validate", { number: "А123-В-С77" });
        expect(invalid.valid).toBe(false);
        expect(invalid.violation).toMatchObject({ reason: "INVALID_CHARACTER", position: 6, character: "-" });
      } finally {
        client.close();
      }
    });
  });
});
