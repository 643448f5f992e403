"""Provisions template.sam.yaml into the emulation: moto's CloudFormation, then what it skips."""

from __future__ import annotations

import io
import json
import logging
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sluice import glue_library
from sluice.local.template import ARTIFACT_BUCKET, Resolver, SamApp, evaluate_conditions

log = logging.getLogger(__name__)

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "sluice-local"

# moto's CloudFormation backend logs and skips these (DESIGN.md); we create them through the service APIs.
# moto creates state machines from CloudFormation without applying DefinitionSubstitutions and outside the
# executing backend, so the state machine is ours too.
_OWN_TYPES = (
    "AWS::Glue::SecurityConfiguration",
    "AWS::Glue::Database",
    "AWS::Glue::Crawler",
    "AWS::Glue::Job",
    "AWS::StepFunctions::StateMachine",
)
# Types moto's CloudFormation skips that have no local effect: left out of the body it parses (with PyYAML,
# a second per hundred resources).
_NO_LOCAL_EFFECT = (
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
)


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int
    role_arn: str = ""


@dataclass
class Stack:
    """Names and ARNs of the provisioned stack, read back from the emulated services."""

    app: SamApp
    parameters: dict[str, str]
    outputs: dict[str, str]
    physical: dict[str, str]
    functions: dict[str, LocalFunction] = field(default_factory=dict)  # by function name
    crawler_targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_scripts: dict[str, Path] = field(default_factory=dict)  # job name -> local script
    job_default_args: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def raw_bucket(self) -> str:
        return self.outputs["RawBucketName"]

    @property
    def lake_bucket(self) -> str:
        return self.outputs["LakeBucketName"]

    @property
    def queue_url(self) -> str:
        return self.outputs["BadRecordsQueueUrl"]

    @property
    def runs_table(self) -> str:
        return self.outputs["RunsTableName"]

    @property
    def serving_table(self) -> str:
        return self.outputs["ServingTableName"]

    @property
    def glue_database(self) -> str:
        return self.outputs["GlueDatabaseName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["StateMachineArn"]

    @property
    def topic_arn(self) -> str:
        return self.outputs["NotificationTopicArn"]

    def function_by_logical_id(self, logical_id: str) -> LocalFunction:
        for fn in self.functions.values():
            if fn.logical_id == logical_id:
                return fn
        raise KeyError(logical_id)


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "sluice runs this function's code in-process from its CodeUri folder.\n")
    return buf.getvalue()


def provision(app: SamApp, overrides: dict[str, str] | None = None) -> Stack:
    """Creates every resource of the template in the active moto mock and returns the stack's names."""
    moto_log = logging.getLogger("moto")
    level = moto_log.level
    with warnings.catch_warnings():
        # moto warns for every type its CloudFormation skips; we create the ones that matter ourselves.
        warnings.simplefilter("ignore", UserWarning)
        moto_log.setLevel(logging.ERROR)
        try:
            return _provision(app, overrides)
        finally:
            moto_log.setLevel(level)


def _provision(app: SamApp, overrides: dict[str, str] | None) -> Stack:
    session = boto3.Session(region_name=REGION)
    s3 = session.client("s3")
    cfn_client = session.client("cloudformation")

    cfn = app.to_cloudformation(REGION)
    parameters = {**app.parameter_defaults(), **(overrides or {})}
    for res in cfn["Resources"].values():
        if res["Type"] == "AWS::Lambda::Function":
            # AWS-managed layers (AWSSDKPandas) live in other accounts; locally the venv provides them.
            layers = res["Properties"].get("Layers", [])
            res["Properties"]["Layers"] = [ly for ly in layers if isinstance(ly, dict) and "Ref" in ly]

    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    body = _placeholder_zip()
    for res in cfn["Resources"].values():
        code = res.get("Properties", {}).get("Code") or res.get("Properties", {}).get("Content")
        if isinstance(code, dict) and code.get("S3Bucket") == ARTIFACT_BUCKET:
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=code["S3Key"], Body=body)

    own = {k: v for k, v in cfn["Resources"].items() if v["Type"] in _OWN_TYPES}
    own_names = _own_names(cfn, parameters, own)
    cfn = _inline_refs(cfn, own_names)
    own = {k: cfn["Resources"][k] for k in own}
    moto_log = logging.getLogger("moto")
    level = moto_log.level
    with warnings.catch_warnings():
        # moto warns for every type it skips; _provision_own creates the ones that matter.
        warnings.simplefilter("ignore", UserWarning)
        moto_log.setLevel(logging.ERROR)
        cfn_client.create_stack(
            StackName=STACK_NAME,
            TemplateBody=json.dumps(_for_moto(cfn)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        moto_log.setLevel(level)
    described = cfn_client.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"local stack creation failed: {described.get('StackStatusReason')}")
    physical = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn_client.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
        if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}

    stack = Stack(app=app, parameters=parameters, outputs=outputs, physical=physical)
    resolver = _resolver(session, cfn, parameters, physical, own_names)
    _provision_own(session, stack, own, resolver)
    _complete_buckets(s3, cfn, physical, resolver)
    stack.outputs.update(
        {k: str(resolver.resolve(v["Value"])) for k, v in cfn.get("Outputs", {}).items() if k not in outputs}
    )
    _collect_functions(session, stack, cfn)
    return stack


_NO_VALUE = "\x00AWS::NoValue"  # what Ref AWS::NoValue resolves to; _strip_no_value removes it


def _pseudo() -> dict[str, str]:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK_NAME,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": _NO_VALUE,
    }


def _strip_no_value(node: Any) -> Any:
    """Drops the properties and list items a resolved `Ref: AWS::NoValue` stands for."""
    if isinstance(node, list):
        return [_strip_no_value(v) for v in node if v != _NO_VALUE]
    if isinstance(node, dict):
        return {k: _strip_no_value(v) for k, v in node.items() if v != _NO_VALUE}
    return node


def _own_names(cfn: dict[str, Any], parameters: dict[str, str], own: dict[str, Any]) -> dict[str, str]:
    """What `Ref` returns for the resources we create ourselves (their names depend on parameters only)."""
    resolver = Resolver(parameters, _pseudo(), {}, _no_get_att, evaluate_conditions(cfn, parameters))
    names = {}
    for logical, res in own.items():
        props = res["Properties"]
        if res["Type"] == "AWS::Glue::Database":
            names[logical] = resolver.resolve(props["DatabaseInput"]["Name"])
        elif res["Type"] in ("AWS::Glue::Crawler", "AWS::Glue::Job", "AWS::Glue::SecurityConfiguration"):
            names[logical] = resolver.resolve(props["Name"])
        elif res["Type"] == "AWS::StepFunctions::StateMachine":
            name = resolver.resolve(props["StateMachineName"])
            names[logical] = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    return names


def _for_moto(cfn: dict[str, Any]) -> dict[str, Any]:
    """The template without our own resources and those without local effect (moto would skip both)."""
    skipped = (*_OWN_TYPES, *_NO_LOCAL_EFFECT, "AWS::S3::BucketPolicy")
    return {**cfn, "Resources": {k: v for k, v in cfn["Resources"].items() if v["Type"] not in skipped}}


def _no_get_att(logical: str, attr: str) -> str:
    raise KeyError(f"template: a resource name may not use Fn::GetAtt {logical}.{attr} locally")


def _inline_refs(node: Any, names: dict[str, str]) -> Any:
    """Replaces Refs to our own resources by their names, so moto's CloudFormation can resolve the rest."""
    if isinstance(node, list):
        return [_inline_refs(v, names) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1 and "Ref" in node and node["Ref"] in names:
        return names[node["Ref"]]
    if len(node) == 1 and "Fn::Sub" in node:
        arg = node["Fn::Sub"]
        text = arg if isinstance(arg, str) else arg[0]
        for logical, name in names.items():
            text = text.replace("${" + logical + "}", name)
        return {"Fn::Sub": text if isinstance(arg, str) else [text, _inline_refs(arg[1], names)]}
    return {k: _inline_refs(v, names) for k, v in node.items()}


def _resolver(
    session: boto3.Session,
    cfn: dict[str, Any],
    parameters: dict[str, str],
    physical: dict[str, str],
    own_names: dict[str, str],
) -> Resolver:
    refs = {**physical, **own_names}
    iam = session.client("iam")
    lam = session.client("lambda")
    resources = cfn["Resources"]

    def get_att(logical: str, attr: str) -> str:
        kind = resources[logical]["Type"]
        name = refs[logical]
        if kind == "AWS::IAM::Role" and attr == "Arn":
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])
        if kind == "AWS::Lambda::Function" and attr == "Arn":
            return str(lam.get_function_configuration(FunctionName=name)["FunctionArn"])
        if kind == "AWS::Logs::LogGroup" and attr == "Arn":
            return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
        if kind == "AWS::SNS::Topic" and attr == "TopicName":
            return name.rsplit(":", 1)[-1]
        if kind == "AWS::SQS::Queue" and attr == "QueueName":
            return name.rsplit("/", 1)[-1]
        if kind == "AWS::SQS::Queue" and attr == "Arn":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name.rsplit('/', 1)[-1]}"
        if kind == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::KMS::Key" and attr == "Arn":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{name}"
        raise KeyError(f"template: Fn::GetAtt {logical}.{attr} is not supported locally")

    return Resolver(parameters, _pseudo(), refs, get_att, evaluate_conditions(cfn, parameters))


def _provision_own(session: boto3.Session, stack: Stack, own: dict[str, Any], resolver: Resolver) -> None:
    glue = session.client("glue")
    sfn = session.client("stepfunctions")
    order = {t: i for i, t in enumerate(_OWN_TYPES)}
    for logical, res in sorted(own.items(), key=lambda kv: order[kv[1]["Type"]]):
        props = _strip_no_value(resolver.resolve(res["Properties"]))
        kind = res["Type"]
        if kind == "AWS::Glue::SecurityConfiguration":
            encryption = dict(props["EncryptionConfiguration"])
            # CloudFormation's S3Encryptions is the API's S3Encryption.
            encryption["S3Encryption"] = encryption.pop("S3Encryptions", [])
            glue.create_security_configuration(Name=props["Name"], EncryptionConfiguration=encryption)
        elif kind == "AWS::Glue::Database":
            glue.create_database(DatabaseInput=props["DatabaseInput"])
        elif kind == "AWS::Glue::Crawler":
            glue.create_crawler(
                Name=props["Name"],
                Role=props["Role"],
                DatabaseName=props["DatabaseName"],
                Targets=props["Targets"],
                TablePrefix=props.get("TablePrefix", ""),
                SchemaChangePolicy=props.get("SchemaChangePolicy", {}),
                RecrawlPolicy=props.get("RecrawlPolicy", {}),
                Configuration=props.get("Configuration", ""),
                CrawlerSecurityConfiguration=props.get("CrawlerSecurityConfiguration", ""),
            )
            stack.crawler_targets[props["Name"]] = props
        elif kind == "AWS::Glue::Job":
            command = props["Command"]
            glue.create_job(
                Name=props["Name"],
                Role=props["Role"],
                Command=command,
                DefaultArguments=props.get("DefaultArguments", {}),
                GlueVersion=props.get("GlueVersion", ""),
                WorkerType=props.get("WorkerType", "G.1X"),
                NumberOfWorkers=int(props.get("NumberOfWorkers", 2)),
                Timeout=int(props.get("Timeout", 60)),
                ExecutionProperty=props.get("ExecutionProperty", {}),
                **(
                    {"SecurityConfiguration": props["SecurityConfiguration"]}
                    if "SecurityConfiguration" in props
                    else {}
                ),
            )
            stack.job_scripts[props["Name"]] = (stack.app.root / command["ScriptLocation"]).resolve()
            stack.job_default_args[props["Name"]] = props.get("DefaultArguments", {})
            if glue_library.extra_py_files(props.get("DefaultArguments", {})):
                # What `make deploy` does after `sam deploy`: the job's library where its --extra-py-files says.
                bucket, key = glue_library.library_location(props["DefaultArguments"])
                session.client("s3").put_object(
                    Bucket=bucket, Key=key, Body=glue_library.build(stack.app.root)
                )
        elif kind == "AWS::StepFunctions::StateMachine":
            definition = props["DefinitionString"]
            for key, value in props.get("DefinitionSubstitutions", {}).items():
                definition = definition.replace("${" + key + "}", str(value))
            sfn.create_state_machine(
                name=props["StateMachineName"],
                definition=definition,
                roleArn=props["RoleArn"],
                type=props.get("StateMachineType", "STANDARD"),
            )
        stack.physical[logical] = resolver.values[logical]


def _complete_buckets(s3: Any, cfn: dict[str, Any], physical: dict[str, str], resolver: Resolver) -> None:
    """moto's CloudFormation creates buckets with their encryption only: add versioning, EventBridge
    notifications, the public access block and the bucket policies. (Lifecycle rules have no local effect.)"""
    for logical, res in cfn["Resources"].items():
        if res["Type"] != "AWS::S3::Bucket":
            continue
        props = _strip_no_value(resolver.resolve(res.get("Properties", {})))
        bucket = physical[logical]
        if props.get("VersioningConfiguration", {}).get("Status"):
            s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        notify = props.get("NotificationConfiguration", {})
        if notify.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
    # Bucket policies (moto's CloudFormation skips them), evaluated for the roles' calls (sluice.local.iam).
    for res in cfn["Resources"].values():
        if res["Type"] == "AWS::S3::BucketPolicy":
            props = _strip_no_value(resolver.resolve(res["Properties"]))
            s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))


def _collect_functions(session: boto3.Session, stack: Stack, cfn: dict[str, Any]) -> None:
    lam = session.client("lambda")
    for logical, code_dir in stack.app.code_dirs.items():
        name = stack.physical[logical]
        conf = lam.get_function_configuration(FunctionName=name)
        stack.functions[name] = LocalFunction(
            logical_id=logical,
            name=name,
            arn=conf["FunctionArn"],
            code_dir=code_dir,
            handler=stack.app.handlers[logical],
            # Strings, as Lambda holds them (moto keeps a Ref to a Number parameter as a number).
            environment={k: str(v) for k, v in conf.get("Environment", {}).get("Variables", {}).items()},
            timeout=int(conf.get("Timeout", 3)),
            memory=int(conf.get("MemorySize", 128)),
            role_arn=str(conf.get("Role", "")),
        )
