CREATE DATABASE airflow OWNER driveguard;
