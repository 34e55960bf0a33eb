"""Calls every PlateService RPC over gRPC with Debian's python3-grpcio.

Usage: plates_client.py ADDRESS TOKEN DESCRIPTOR_SET

DESCRIPTOR_SET is a google.protobuf.FileDescriptorSet (buf build output) with
the PlateService, health and google.rpc files. Messages are built from it at
run time, so no generated stubs are needed. Prints one JSON object with what
each call returned; the Node test that runs this script checks it.
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

SERVICE = "plates.v1.PlateService"


def load_messages(path):
    """Returns a function from a full message name to its class."""
    with open(path, "rb") as file:
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(file.read())
    pool = descriptor_pool.DescriptorPool()
    for file_proto in descriptor_set.file:
        pool.Add(file_proto)
    factory = message_factory.MessageFactory(pool)

    def message_class(name):
        return factory.GetPrototype(pool.FindMessageTypeByName(name))

    return message_class


def main():
    address, token, descriptor_set = sys.argv[1:4]
    message_class = load_messages(descriptor_set)
    channel = grpc.insecure_channel(address)
    auth = [("authorization", "Bearer " + token)]

    def method(name, request_type, response_type, streaming=False, service=SERVICE):
        call = channel.unary_stream if streaming else channel.unary_unary
        return call(
            "/%s/%s" % (service, name),
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=message_class(response_type).FromString,
        ), message_class(request_type)

    def call(name, fields, metadata=auth, **options):
        rpc, request_type = method(name, "plates.v1.%sRequest" % name, "plates.v1.%sResponse" % name)
        response = rpc(request_type(**fields), metadata=metadata, timeout=20, **options)
        return json_format.MessageToDict(response)

    def failure(name, fields, metadata=auth):
        try:
            call(name, fields, metadata)
        except grpc.RpcError as error:
            return describe_error(error, message_class)
        return {"code": "OK"}

    results = {}
    results["add"] = call("Add", {"number": " а123вс 77 "})
    plate_id = results["add"]["plate"]["id"]
    results["get"] = call("Get", {"id": plate_id})
    results["find"] = call("Find", {"number": "A123BC77"})
    results["list"] = call("List", {"page_size": 10, "region_codes": ["77"], "types": [1]})
    results["validate"] = call("Validate", {"number": "м777мм197"})
    results["generate"] = call("Generate", {"amount": 3}, compression=grpc.Compression.Gzip)

    stream, stream_request = method("GenerateStream", "plates.v1.GenerateStreamRequest", "plates.v1.GenerateStreamResponse", streaming=True)
    batches = stream(stream_request(amount=5), metadata=auth, timeout=20)
    results["generate_stream"] = [json_format.MessageToDict(batch) for batch in batches]

    results["add_invalid"] = failure("Add", {"number": "ж123вс77"})
    results["add_existing"] = failure("Add", {"number": "А123ВС77"})
    results["add_without_token"] = failure("Add", {"number": "в456ок99"}, metadata=[])
    results["delete"] = call("Delete", {"id": plate_id})
    results["get_deleted"] = failure("Get", {"id": plate_id})

    check, check_request = method(
        "Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse", service="grpc.health.v1.Health"
    )
    results["health"] = json_format.MessageToDict(check(check_request(service=""), timeout=20))

    json.dump(results, sys.stdout, ensure_ascii=False)


def describe_error(error, message_class):
    """Returns the code, the message and the google.rpc.Status details of a failed call."""
    details = []
    status_bytes = None
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status_bytes = value
    if status_bytes is not None:
        status = message_class("google.rpc.Status").FromString(status_bytes)
        for detail in status.details:
            type_name = detail.type_url.split("/")[-1]
            fields = json_format.MessageToDict(message_class(type_name).FromString(detail.value))
            details.append({"type": type_name, "fields": fields})
        status_code = status.code
        status_message = status.message
    else:
        status_code = None
        status_message = None
    return {
        "code": error.code().name,
        "message": error.details(),
        "status_code": status_code,
        "status_message": status_message,
        "details": details,
    }


if __name__ == "__main__":
    main()
