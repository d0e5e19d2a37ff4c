"""targets/oip_wire.py: the hand-written Open Inference Protocol codec, byte for byte against MLServer's
generated `dataplane_pb2` (the protocol's own .proto compiled by protoc)."""

from __future__ import annotations

import pytest

from stinger.targets import oip_wire

pb = pytest.importorskip("mlserver.grpc.dataplane_pb2")

TENSORS = [
    ("FP32", [[0.5, -1.25, 3.0, 1e-3]], "fp32_contents"),
    ("FP64", [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]], "fp64_contents"),
    ("INT64", [[1, -2, 3, 2**40]], "int64_contents"),
    ("INT32", [[-1, 0, 7, 300]], "int_contents"),
    ("INT8", [[-128, 127]], "int_contents"),
    ("UINT8", [[0, 255, 1]], "uint_contents"),
    ("UINT64", [[2**63 + 5, 1]], "uint64_contents"),
    ("BOOL", [[True, False, True]], "bool_contents"),
    ("BYTES", [["hello", "wörld", ""]], "bytes_contents"),
]


def _flat(rows):
    return [v for r in rows for v in r]


def _pb_contents(field, values):
    if field == "bytes_contents":
        values = [v.encode() for v in values]
    return pb.InferTensorContents(**{field: values})


@pytest.mark.parametrize(("datatype", "rows", "field"), TENSORS, ids=[t[0] for t in TENSORS])
def test_infer_request_bytes_equal_the_generated_code(datatype, rows, field):
    request = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": datatype,
                           "data": _flat(rows)}]}
    ours = oip_wire.encode_infer_request(request, "iris", None)
    theirs = pb.ModelInferRequest(model_name="iris", inputs=[pb.ModelInferRequest.InferInputTensor(
        name="input-0", datatype=datatype, shape=[len(rows), len(rows[0])],
        contents=_pb_contents(field, _flat(rows)))]).SerializeToString()
    assert ours == theirs


def test_a_full_request_with_version_id_parameters_several_inputs_and_outputs():
    request = {"id": "r-1", "parameters": {"content_type": "np"},
               "inputs": [{"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [[1, 2]],
                           "parameters": {"flag": False}},
                          {"name": "b", "shape": [2], "datatype": "INT64", "data": [0, -1]}],
               "outputs": [{"name": "predict", "parameters": {"k": 3}}]}
    ours = oip_wire.encode_infer_request(request, "m", "2")
    P = pb.InferParameter
    theirs = pb.ModelInferRequest(
        model_name="m", model_version="2", id="r-1", parameters={"content_type": P(string_param="np")},
        inputs=[pb.ModelInferRequest.InferInputTensor(name="a", datatype="FP32", shape=[1, 2],
                                                      parameters={"flag": P(bool_param=False)},
                                                      contents=pb.InferTensorContents(fp32_contents=[1, 2])),
                pb.ModelInferRequest.InferInputTensor(name="b", datatype="INT64", shape=[2],
                                                      contents=pb.InferTensorContents(int64_contents=[0, -1]))],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="predict", parameters={"k": P(int64_param=3)})],
    ).SerializeToString()
    assert ours == theirs


@pytest.mark.parametrize(("datatype", "rows", "field"), TENSORS, ids=[t[0] for t in TENSORS])
def test_infer_response_decodes_into_the_v2_json_shape(datatype, rows, field):
    values = _flat(rows)
    msg = pb.ModelInferResponse(model_name="iris", model_version="1", id="x",
                                parameters={"headers": pb.InferParameter(string_param="h")},
                                outputs=[pb.ModelInferResponse.InferOutputTensor(
                                    name="predict", datatype=datatype, shape=[len(rows), len(rows[0])],
                                    contents=_pb_contents(field, values))])
    doc = oip_wire.decode_infer_response(msg.SerializeToString())
    [out] = doc["outputs"]
    assert doc["model_name"] == "iris" and doc["model_version"] == "1" and doc["id"] == "x"
    assert doc["parameters"] == {"headers": "h"}
    assert out["name"] == "predict" and out["datatype"] == datatype and out["shape"] == [len(rows), len(rows[0])]
    if datatype == "FP32":
        assert out["data"] == pytest.approx(values, rel=1e-6)
    else:
        assert out["data"] == values


def test_raw_output_contents_are_read_by_datatype():
    import struct

    raw_f = struct.pack("<3f", 1.5, -2.0, 0.25)
    raw_b = struct.pack("<I", 2) + b"ok" + struct.pack("<I", 0)
    msg = pb.ModelInferResponse(model_name="m", outputs=[
        pb.ModelInferResponse.InferOutputTensor(name="y", datatype="FP32", shape=[3]),
        pb.ModelInferResponse.InferOutputTensor(name="s", datatype="BYTES", shape=[2])],
        raw_output_contents=[raw_f, raw_b])
    doc = oip_wire.decode_infer_response(msg.SerializeToString())
    assert doc["outputs"][0]["data"] == [1.5, -2.0, 0.25] and doc["outputs"][1]["data"] == ["ok", ""]


def test_ready_request_and_response():
    assert oip_wire.encode_ready_request("iris", "3") == pb.ModelReadyRequest(name="iris", version="3").SerializeToString()
    assert oip_wire.decode_ready_response(pb.ModelReadyResponse(ready=True).SerializeToString()) is True
    assert oip_wire.decode_ready_response(pb.ModelReadyResponse(ready=False).SerializeToString()) is False


def test_bytes_that_are_not_a_message_are_a_wire_error_and_unknown_datatypes_are_named():
    with pytest.raises(oip_wire.WireError):
        oip_wire.decode_infer_response(b"\x2a\xff\xff")   # a length past the end
    with pytest.raises(oip_wire.WireError, match="FP16"):
        oip_wire.encode_infer_request({"inputs": [{"name": "a", "datatype": "FP16", "shape": [1], "data": [1]}]}, "m")
