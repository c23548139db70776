"""What the local stack does for the console that moto does not: the Cognito user pool, its client,
groups and users (`cognito`: moto's CloudFormation creates none), and S3's CORS for the browser's
uploads to the raw bucket (`s3_cors`)."""
