import type { DescEnum, DescFile, DescEnumValue, DescField, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";

type Commented = DescService | DescMethod | DescMessage | DescField | DescEnum | DescEnumValue;

/**
 * Returns the leading comment of an element from the source code info of its
 * file, with the one space after "//" removed, or undefined when there is
 * none. Generated code drops source code info, so this needs descriptors
 * built from the .proto files, such as `buf build` writes.
 */
export function commentOf(desc: Commented): string | undefined {
  const file = desc.kind === "enum_value" ? desc.parent.file : fileOf(desc);
  const path = pathOf(desc).join(",");
  const comment = file.proto.sourceCodeInfo?.location.find((location) => location.path.join(",") === path)?.leadingComments;
  if (comment === undefined || comment.trim() === "") {
    return undefined;
  }
  return comment
    .split("\n")
    .map((line: string) => (line.startsWith(" ") ? line.slice(1) : line))
    .join("\n")
    .trim();
}

function fileOf(desc: Exclude<Commented, DescEnumValue>): DescFile {
  switch (desc.kind) {
    case "rpc":
      return desc.parent.file;
    case "field":
      return desc.parent.file;
    default:
      return desc.file;
  }
}

// Field numbers of google.protobuf.FileDescriptorProto and its nested
// messages, which make up a SourceCodeInfo.Location path.
const fileMessageType = 4;
const fileEnumType = 5;
const fileService = 6;
const messageField = 2;
const messageNestedType = 3;
const messageEnumType = 4;
const enumValue = 2;
const serviceMethod = 2;

function pathOf(desc: Commented): number[] {
  switch (desc.kind) {
    case "service":
      return [fileService, desc.file.services.indexOf(desc)];
    case "rpc":
      return [...pathOf(desc.parent), serviceMethod, desc.parent.methods.indexOf(desc)];
    case "message":
      return desc.parent === undefined
        ? [fileMessageType, desc.file.messages.indexOf(desc)]
        : [...pathOf(desc.parent), messageNestedType, desc.parent.nestedMessages.indexOf(desc)];
    case "field":
      return [...pathOf(desc.parent), messageField, desc.parent.proto.field.indexOf(desc.proto)];
    case "enum":
      return desc.parent === undefined
        ? [fileEnumType, desc.file.enums.indexOf(desc)]
        : [...pathOf(desc.parent), messageEnumType, desc.parent.nestedEnums.indexOf(desc)];
    case "enum_value":
      return [...pathOf(desc.parent), enumValue, desc.parent.values.indexOf(desc)];
  }
}
