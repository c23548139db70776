"""IAM on the local stack, evaluated as AWS evaluates it: every AWS call a stack principal makes (a
function as its execution role, a state machine's integrations as its role, the Fargate task as its
task role, Firehose delivery as its delivery role) is authorised against that principal's identity
policies and the resource policies AWS also reads (bucket, topic, queue and key policies).

- `policy`: the evaluation logic (pure): statements, wildcards, conditions, explicit deny, resource
  policies, KMS key policies.
- `actions`: what a call asks for: each API operation's IAM actions and the ARNs they act on.
- `enforcement`: who is calling (credentials minted per role through moto's STS), what each call
  needs and whether it is allowed, AWS's denial errors, and the trace of every decision.
- `hooks`: where that check is made: every botocore call of the process, the calls moto answers for
  other processes (people, the Fargate task), and the state machines signing as their roles.
- `report`: what a recorded trace says about the template's grants (`make iam-report`).
"""
